package policy

import (
	"errors"
	"strings"
	"testing"
)

func TestMatch(t *testing.T) {
	for _, c := range []struct {
		pat, s string
		want   bool
	}{
		{"*", "", true},
		{"*", "a/b/c", true},
		{"arn:aws:s3:::b/*", "arn:aws:s3:::b/x/y", true},
		{"arn:aws:s3:::b/*", "arn:aws:s3:::b", false},
		{"arn:aws:s3:::b/*", "arn:aws:s3:::bb/x", false},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"a?c", "aéc", true}, // ? is one character, not one byte
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "axxbyy", false},
		{"*.jpg", "x.jpg.png", false},
		{"*a", "aaaa", true},
		{"", "", true},
		{"", "x", false},
		{"ab", "abc", false},
	} {
		if got := match(c.pat, c.s); got != c.want {
			t.Errorf("match(%q, %q) = %v, want %v", c.pat, c.s, got, c.want)
		}
	}
}

func mustParse(t *testing.T, doc string, kind Kind) *Policy {
	t.Helper()
	p, err := Parse([]byte(doc), kind)
	if err != nil {
		t.Fatalf("Parse: %v\n%s", err, doc)
	}
	return p
}

func TestParseErrorsNameStatementAndField(t *testing.T) {
	for _, c := range []struct {
		doc   string
		kind  Kind
		stmt  int
		field string
	}{
		{`{}`, Bucket, -1, "Version"},
		{`{"Version":"2012-10-17"}`, Bucket, -1, "Statement"},
		{`{"Version":"2012-10-17","Statement":[]}`, Bucket, -1, "Statement"},
		{`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*"},"Extra":1}`, Bucket, -1, ""},
		{`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*"},
			{"Sid":"two","Effect":"Permit","Principal":"*","Action":"s3:GetObject","Resource":"*"}]}`, Bucket, 1, "Effect"},
		{`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}}`, Bucket, 0, "Principal"},
		{`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*"}}`, Identity, 0, "Principal"},
		{`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"ec2:RunInstances","Resource":"*"}}`, Bucket, 0, "Action"},
		{`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Resource":"*"}}`, Bucket, 0, "Action"},
		{`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"s3:*","NotAction":"s3:Get*","Resource":"*"}}`, Bucket, 0, "NotAction"},
		{`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"arn:aws:ec2:::x"}}`, Bucket, 0, "Resource"},
		{`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"s3:*"}}`, Bucket, 0, "Resource"},
		{`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"Service":"x"},"Action":"s3:*","Resource":"*"}}`, Bucket, 0, "Principal"},
		{`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"AWS":"al*"},"Action":"s3:*","Resource":"*"}}`, Bucket, 0, "Principal"},
		{`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*",
			"Condition":{"IpAddress":{"aws:SourceIp":"10.0.0.0/33"}}}}`, Bucket, 0, "Condition.IpAddress.aws:SourceIp"},
		{`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*",
			"Condition":{"StringMaybe":{"s3:prefix":"x"}}}}`, Bucket, 0, "Condition"},
		{`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*",
			"Condition":{"StringEquals":{"ec2:x":"x"}}}}`, Bucket, 0, "Condition.StringEquals"},
		{`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*",
			"Condition":{"NumericLessThan":{"s3:max-keys":"ten"}}}}`, Bucket, 0, "Condition.NumericLessThan.s3:max-keys"},
		{`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*","Colour":"red"}}`, Bucket, 0, ""},
		{`{"Version":"2012-10-17","Statement":[{"Sid":"a","Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*"},
			{"Sid":"a","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"*"}]}`, Bucket, 1, "Sid"},
		{`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*"}} trailing`, Bucket, -1, ""},
	} {
		_, err := Parse([]byte(c.doc), c.kind)
		var pe *Error
		if !errors.As(err, &pe) {
			t.Errorf("Parse(%s) = %v, want an *Error", c.doc, err)
			continue
		}
		if pe.Statement != c.stmt || pe.Field != c.field {
			t.Errorf("Parse(%s): %v: statement %d field %q, want statement %d field %q", c.doc, err, pe.Statement, pe.Field, c.stmt, c.field)
		}
	}
	_, err := Parse([]byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"*"},
		{"Sid":"ReadOnly","Effect":"Permit","Principal":"*","Action":"s3:GetObject","Resource":"*"}]}`), Bucket)
	if want := `bucket policy, statement 2 (Sid "ReadOnly"), Effect: "Permit": must be "Allow" or "Deny"`; err == nil || err.Error() != want {
		t.Errorf("error text %q, want %q", err, want)
	}
	if _, err := Parse([]byte(strings.Repeat(" ", MaxSize+1)), Bucket); err == nil {
		t.Error("an oversized document parsed")
	}
}

const bucketDoc = `{
  "Version": "2012-10-17",
  "Statement": [
    {"Sid": "BobReads", "Effect": "Allow", "Principal": {"AWS": ["bob", "arn:aws:iam::123456789012:user/carol"]},
     "Action": ["s3:GetObject", "s3:List*"], "Resource": ["arn:aws:s3:::photos", "arn:aws:s3:::photos/*"]},
    {"Sid": "NoSecrets", "Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": "arn:aws:s3:::photos/secret/*"},
    {"Sid": "PublicThumbs", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
     "Resource": "arn:aws:s3:::photos/thumbs/*", "Condition": {"IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "2001:db8::/32"]}}},
    {"Sid": "NotDave", "Effect": "Deny", "NotPrincipal": {"AWS": "dave"}, "Action": "s3:DeleteObject", "Resource": "arn:aws:s3:::photos/*"},
    {"Sid": "TLSOnly", "Effect": "Deny", "Principal": "*", "NotAction": "s3:Get*", "Resource": "*",
     "Condition": {"Bool": {"aws:SecureTransport": false}}}
  ]
}`

func TestEvaluate(t *testing.T) {
	p := mustParse(t, bucketDoc, Bucket)
	https := map[string][]string{"aws:securetransport": {"true"}}
	for _, c := range []struct {
		who, action, res string
		ctx              map[string][]string
		want             Decision
	}{
		{"bob", "s3:GetObject", "arn:aws:s3:::photos/a.jpg", https, Allowed},
		{"bob", "s3:getobject", "arn:aws:s3:::photos/a.jpg", https, Allowed}, // actions ignore case
		{"carol", "s3:ListBucket", "arn:aws:s3:::photos", https, Allowed},
		{"bob", "s3:PutObject", "arn:aws:s3:::photos/a.jpg", https, NoDecision},
		{"bob", "s3:GetObject", "arn:aws:s3:::other/a.jpg", https, NoDecision},
		{"eve", "s3:GetObject", "arn:aws:s3:::photos/a.jpg", https, NoDecision},
		{"bob", "s3:GetObject", "arn:aws:s3:::photos/secret/x", https, Denied},
		{"", "s3:GetObject", "arn:aws:s3:::photos/thumbs/x", map[string][]string{"aws:sourceip": {"10.1.2.3"}}, Allowed},
		{"", "s3:GetObject", "arn:aws:s3:::photos/thumbs/x", map[string][]string{"aws:sourceip": {"2001:db8::1"}}, Allowed},
		{"", "s3:GetObject", "arn:aws:s3:::photos/thumbs/x", map[string][]string{"aws:sourceip": {"192.0.2.1"}}, NoDecision},
		{"", "s3:GetObject", "arn:aws:s3:::photos/thumbs/x", nil, NoDecision},
		{"bob", "s3:DeleteObject", "arn:aws:s3:::photos/a.jpg", https, Denied}, // NotPrincipal dave
		{"dave", "s3:DeleteObject", "arn:aws:s3:::photos/a.jpg", https, NoDecision},
		{"bob", "s3:ListBucket", "arn:aws:s3:::photos", map[string][]string{"aws:securetransport": {"false"}}, Denied},
		{"bob", "s3:GetObject", "arn:aws:s3:::photos/a", map[string][]string{"aws:securetransport": {"false"}}, Allowed},
	} {
		got := p.Evaluate(&Request{Principal: c.who, Action: c.action, Resource: c.res, Context: c.ctx})
		if got != c.want {
			t.Errorf("%q %s %s %v: %v, want %v", c.who, c.action, c.res, c.ctx, got, c.want)
		}
	}
	if (*Policy)(nil).Evaluate(&Request{Action: "s3:GetObject"}) != NoDecision {
		t.Error("a nil policy decided")
	}
}

func TestConditions(t *testing.T) {
	doc := func(cond string) *Policy {
		return mustParse(t, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:ListBucket","Resource":"*","Condition":`+cond+`}}`, Identity)
	}
	for _, c := range []struct {
		cond string
		ctx  map[string][]string
		want bool
	}{
		{`{"StringEquals":{"s3:prefix":["home/","pub/"]}}`, map[string][]string{"s3:prefix": {"pub/"}}, true},
		{`{"StringEquals":{"s3:prefix":"home/"}}`, map[string][]string{"s3:prefix": {"Home/"}}, false},
		{`{"StringEquals":{"s3:prefix":"home/"}}`, nil, false},
		{`{"StringEqualsIfExists":{"s3:prefix":"home/"}}`, nil, true},
		{`{"StringEqualsIgnoreCase":{"s3:prefix":"home/"}}`, map[string][]string{"s3:prefix": {"HOME/"}}, true},
		{`{"StringNotEquals":{"s3:prefix":"home/"}}`, map[string][]string{"s3:prefix": {"pub/"}}, true},
		{`{"StringNotEquals":{"s3:prefix":"home/"}}`, map[string][]string{"s3:prefix": {"home/"}}, false},
		{`{"StringNotEquals":{"s3:prefix":"home/"}}`, nil, true},
		{`{"StringLike":{"s3:prefix":"home/${aws:username}/*"}}`, map[string][]string{"s3:prefix": {"home/bob/x"}, "aws:username": {"bob"}}, true},
		{`{"StringLike":{"s3:prefix":"home/${aws:username}/*"}}`, map[string][]string{"s3:prefix": {"home/bob/x"}, "aws:username": {"eve"}}, false},
		{`{"StringLike":{"aws:Referer":"https://*.example.com/*"}}`, map[string][]string{"aws:referer": {"https://www.example.com/p"}}, true},
		{`{"StringNotLike":{"aws:Referer":"https://*.example.com/*"}}`, map[string][]string{"aws:referer": {"https://evil.test/"}}, true},
		{`{"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}}`, map[string][]string{"aws:sourceip": {"10.9.9.9"}}, false},
		{`{"IpAddress":{"aws:SourceIp":"127.0.0.1"}}`, map[string][]string{"aws:sourceip": {"127.0.0.1"}}, true},
		{`{"IpAddress":{"aws:SourceIp":"127.0.0.0/8"}}`, map[string][]string{"aws:sourceip": {"::ffff:127.0.0.2"}}, true},
		{`{"NumericLessThanEquals":{"s3:max-keys":100}}`, map[string][]string{"s3:max-keys": {"100"}}, true},
		{`{"NumericLessThan":{"s3:max-keys":"100"}}`, map[string][]string{"s3:max-keys": {"100"}}, false},
		{`{"NumericGreaterThan":{"s3:max-keys":10}}`, map[string][]string{"s3:max-keys": {"11"}}, true},
		{`{"NumericEquals":{"s3:max-keys":10}}`, map[string][]string{"s3:max-keys": {"x"}}, false},
		{`{"Bool":{"aws:SecureTransport":"true"}}`, map[string][]string{"aws:securetransport": {"true"}}, true},
		{`{"Null":{"aws:username":true}}`, nil, true},
		{`{"Null":{"aws:username":true}}`, map[string][]string{"aws:username": {"bob"}}, false},
		{`{"Null":{"aws:username":"false"}}`, map[string][]string{"aws:username": {"bob"}}, true},
		// Every operator and key of the block must hold.
		{`{"StringEquals":{"s3:prefix":"a/","s3:delimiter":"/"}}`, map[string][]string{"s3:prefix": {"a/"}}, false},
		{`{"StringEquals":{"s3:prefix":"a/"},"Bool":{"aws:SecureTransport":true}}`, map[string][]string{"s3:prefix": {"a/"}, "aws:securetransport": {"true"}}, true},
	} {
		got := doc(c.cond).Evaluate(&Request{Principal: "bob", Action: "s3:ListBucket", Resource: "arn:aws:s3:::b", Context: c.ctx}) == Allowed
		if got != c.want {
			t.Errorf("%s with %v: %v, want %v", c.cond, c.ctx, got, c.want)
		}
	}
}

func TestIdentityPolicyVariables(t *testing.T) {
	p := mustParse(t, `{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],"Resource":"arn:aws:s3:::home/${aws:username}/*"}]}`, Identity)
	req := func(user, res string) *Request {
		return &Request{Principal: user, Action: "s3:PutObject", Resource: res, Context: map[string][]string{"aws:username": {user}}}
	}
	if d := p.Evaluate(req("bob", "arn:aws:s3:::home/bob/notes")); d != Allowed {
		t.Errorf("bob in his home: %v", d)
	}
	if d := p.Evaluate(req("bob", "arn:aws:s3:::home/alice/notes")); d != NoDecision {
		t.Errorf("bob in alice's home: %v", d)
	}
	if d := p.Evaluate(&Request{Principal: "bob", Action: "s3:PutObject", Resource: "arn:aws:s3:::home/bob/notes"}); d != NoDecision {
		t.Errorf("without aws:username the variable must match nothing: %v", d)
	}
	// Resource may be left out of an identity policy: everything.
	p = mustParse(t, `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:Get*"}}`, Identity)
	if d := p.Evaluate(&Request{Principal: "x", Action: "s3:GetObject", Resource: "arn:aws:s3:::b/k"}); d != Allowed {
		t.Errorf("identity policy without Resource: %v", d)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(bucketDoc), "bob", "s3:GetObject", "arn:aws:s3:::photos/a", "10.0.0.1")
	f.Add([]byte(`{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"s3:*","Resource":"arn:aws:s3:::${aws:username}/*"}}`),
		"", "s3:PutObject", "arn:aws:s3:::x/y", "::1")
	f.Fuzz(func(t *testing.T, doc []byte, who, action, res, ip string) {
		for _, kind := range []Kind{Bucket, Identity} {
			p, err := Parse(doc, kind)
			if err != nil {
				var pe *Error
				if !errors.As(err, &pe) {
					t.Fatalf("Parse error %v is not an *Error", err)
				}
				continue
			}
			if len(p.Statements) == 0 {
				t.Fatal("a policy without statements parsed")
			}
			ctx := map[string][]string{"aws:sourceip": {ip}, "aws:username": {who}, "s3:max-keys": {ip}}
			d := p.Evaluate(&Request{Principal: who, Action: action, Resource: res, Context: ctx})
			// A Deny anywhere decides; check it against the statements.
			denies := false
			for i := range p.Statements {
				s := &p.Statements[i]
				if s.Effect == Deny && s.matches(&Request{Principal: who, Action: action, Resource: res, Context: ctx}) {
					denies = true
				}
			}
			if denies != (d == Denied) {
				t.Fatalf("decision %v, but a deny statement matched: %v", d, denies)
			}
		}
	})
}

func BenchmarkEvaluate(b *testing.B) {
	p, err := Parse([]byte(bucketDoc), Bucket)
	if err != nil {
		b.Fatal(err)
	}
	req := &Request{Principal: "bob", Action: "s3:GetObject", Resource: "arn:aws:s3:::photos/2024/06/img_0001.jpg",
		Context: map[string][]string{"aws:securetransport": {"true"}, "aws:sourceip": {"10.1.2.3"}}}
	for b.Loop() {
		if p.Evaluate(req) != Allowed {
			b.Fatal("not allowed")
		}
	}
}

func BenchmarkParse(b *testing.B) {
	for b.Loop() {
		if _, err := Parse([]byte(bucketDoc), Bucket); err != nil {
			b.Fatal(err)
		}
	}
}
