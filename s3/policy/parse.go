package policy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// MaxSize is the largest policy document accepted, as S3's bucket
// policies (20 KiB).
const MaxSize = 20 << 10

// Kind says where a policy is attached, which decides whether its
// statements name principals.
type Kind int

const (
	// Bucket policies are attached to a bucket; every statement names
	// its Principal or NotPrincipal.
	Bucket Kind = iota
	// Identity policies are attached to an access key; they apply to it
	// and name no principal.
	Identity
)

func (k Kind) String() string {
	if k == Identity {
		return "identity policy"
	}
	return "bucket policy"
}

// Effect is what a matching statement does.
type Effect string

const (
	Allow Effect = "Allow"
	Deny  Effect = "Deny"
)

// Policy is a parsed, validated policy document.
type Policy struct {
	Version    string
	ID         string
	Statements []Statement
}

// Statement is one statement of a policy. Exactly one of Action and
// NotAction is set, at most one of Resource and NotResource (a bucket
// policy statement needs one), and in bucket policies exactly one of
// Principal and NotPrincipal.
type Statement struct {
	Sid          string
	Effect       Effect
	Principal    *Principals
	NotPrincipal *Principals
	Action       []string
	NotAction    []string
	Resource     []string
	NotResource  []string
	Conditions   []Condition
}

// Principals are the principals a statement names: Any for "*" (and
// {"AWS": "*"}), else names. A name is an identity as the gateway knows
// it (a namespace user, or an access key without a user), given plainly
// ("alice") or as an IAM ARN ("arn:aws:iam::123456789012:user/alice").
type Principals struct {
	Any   bool
	Names []string
}

// Condition is one test of a statement's Condition block: an operator
// applied to one key and its values.
type Condition struct {
	Operator string   // as written, e.g. StringLike or IpAddressIfExists
	Key      string   // as written, e.g. aws:SourceIp; matched without regard to case
	Values   []string // numbers and booleans in their JSON text
	op       *operator
	ifExists bool
}

// Error is a policy that cannot be used: MalformedPolicy in S3's terms.
// Statement is the statement's index from 0 (-1 for the document
// itself), Sid its Sid if any, Field the element at fault.
type Error struct {
	Kind      Kind
	Statement int
	Sid       string
	Field     string
	Msg       string
}

func (e *Error) Error() string {
	where := e.Kind.String()
	if e.Statement >= 0 {
		where += fmt.Sprintf(", statement %d", e.Statement+1)
		if e.Sid != "" {
			where += fmt.Sprintf(" (Sid %q)", e.Sid)
		}
	}
	if e.Field != "" {
		where += ", " + e.Field
	}
	return where + ": " + e.Msg
}

// Parse parses and validates a policy document of the given kind. The
// error, if any, is an *Error.
func Parse(doc []byte, kind Kind) (*Policy, error) {
	fail := func(stmt int, sid, field, format string, args ...any) error {
		return &Error{Kind: kind, Statement: stmt, Sid: sid, Field: field, Msg: fmt.Sprintf(format, args...)}
	}
	if len(doc) > MaxSize {
		return nil, fail(-1, "", "", "the document is %d bytes; the limit is %d", len(doc), MaxSize)
	}
	var raw struct {
		Version   string          `json:"Version"`
		ID        string          `json:"Id"`
		Statement json.RawMessage `json:"Statement"`
	}
	if err := strictDecode(doc, &raw); err != nil {
		return nil, fail(-1, "", "", "not a policy document: %v", err)
	}
	switch raw.Version {
	case "2012-10-17", "2008-10-17":
	case "":
		return nil, fail(-1, "", "Version", `missing; write "Version": "2012-10-17"`)
	default:
		return nil, fail(-1, "", "Version", `%q is not a policy language version; use "2012-10-17"`, raw.Version)
	}
	var stmts []json.RawMessage
	switch t := bytes.TrimSpace(raw.Statement); {
	case len(t) == 0 || string(t) == "null":
		return nil, fail(-1, "", "Statement", "missing; a policy needs at least one statement")
	case t[0] == '{':
		stmts = []json.RawMessage{t}
	default:
		if err := json.Unmarshal(t, &stmts); err != nil {
			return nil, fail(-1, "", "Statement", "must be a statement or a list of statements: %v", err)
		}
	}
	if len(stmts) == 0 {
		return nil, fail(-1, "", "Statement", "empty; a policy needs at least one statement")
	}
	p := &Policy{Version: raw.Version, ID: raw.ID}
	sids := map[string]bool{}
	for i, rs := range stmts {
		s, err := parseStatement(rs, kind, func(sid, field, format string, args ...any) error {
			return fail(i, sid, field, format, args...)
		})
		if err != nil {
			return nil, err
		}
		if s.Sid != "" && sids[s.Sid] {
			return nil, fail(i, s.Sid, "Sid", "another statement has the same Sid; Sids must be unique")
		}
		sids[s.Sid] = true
		p.Statements = append(p.Statements, *s)
	}
	return p, nil
}

type failFunc func(sid, field, format string, args ...any) error

type rawStatement struct {
	Sid          string                                `json:"Sid"`
	Effect       string                                `json:"Effect"`
	Principal    json.RawMessage                       `json:"Principal"`
	NotPrincipal json.RawMessage                       `json:"NotPrincipal"`
	Action       stringList                            `json:"Action"`
	NotAction    stringList                            `json:"NotAction"`
	Resource     stringList                            `json:"Resource"`
	NotResource  stringList                            `json:"NotResource"`
	Condition    map[string]map[string]json.RawMessage `json:"Condition"`
}

func parseStatement(data []byte, kind Kind, fail failFunc) (*Statement, error) {
	var r rawStatement
	if err := strictDecode(data, &r); err != nil {
		return nil, fail("", "", "%v", err)
	}
	s := &Statement{Sid: r.Sid, Effect: Effect(r.Effect)}
	if s.Effect != Allow && s.Effect != Deny {
		return nil, fail(r.Sid, "Effect", `%q: must be "Allow" or "Deny"`, r.Effect)
	}
	var err error
	if s.Principal, err = parsePrincipal(r.Principal, "Principal", r.Sid, fail); err != nil {
		return nil, err
	}
	if s.NotPrincipal, err = parsePrincipal(r.NotPrincipal, "NotPrincipal", r.Sid, fail); err != nil {
		return nil, err
	}
	switch {
	case kind == Identity && (s.Principal != nil || s.NotPrincipal != nil):
		return nil, fail(r.Sid, "Principal", "an identity policy applies to its key and names no principal; remove it")
	case kind == Bucket && s.Principal == nil && s.NotPrincipal == nil:
		return nil, fail(r.Sid, "Principal", `missing; a bucket policy statement names its principals ("*" for everyone)`)
	case s.Principal != nil && s.NotPrincipal != nil:
		return nil, fail(r.Sid, "NotPrincipal", "give Principal or NotPrincipal, not both")
	}
	if s.Action, s.NotAction, err = exactlyOne(r.Action, r.NotAction, "Action", r.Sid, fail); err != nil {
		return nil, err
	}
	for _, a := range append(append([]string{}, s.Action...), s.NotAction...) {
		if a != "*" && !strings.HasPrefix(strings.ToLower(a), "s3:") {
			return nil, fail(r.Sid, "Action", "%q is not an S3 action; actions are \"*\" or start with \"s3:\" (s3:GetObject, s3:List*)", a)
		}
	}
	if r.Resource == nil && r.NotResource == nil && kind == Identity {
		r.Resource = stringList{"*"} // optional in identity policies here: the key's everything
	}
	if s.Resource, s.NotResource, err = exactlyOne(r.Resource, r.NotResource, "Resource", r.Sid, fail); err != nil {
		return nil, err
	}
	for _, res := range append(append([]string{}, s.Resource...), s.NotResource...) {
		if res != "*" && !strings.HasPrefix(res, "arn:aws:s3:::") {
			return nil, fail(r.Sid, "Resource", "%q is not an S3 resource; write arn:aws:s3:::BUCKET or arn:aws:s3:::BUCKET/KEY (with * and ?), or \"*\"", res)
		}
	}
	if s.Conditions, err = parseConditions(r.Condition, r.Sid, fail); err != nil {
		return nil, err
	}
	return s, nil
}

func exactlyOne(a, notA stringList, field, sid string, fail failFunc) ([]string, []string, error) {
	switch {
	case a != nil && notA != nil:
		return nil, nil, fail(sid, "Not"+field, "give %s or Not%s, not both", field, field)
	case a == nil && notA == nil:
		return nil, nil, fail(sid, field, "missing; give %s or Not%s", field, field)
	case len(a)+len(notA) == 0:
		if a != nil {
			return nil, nil, fail(sid, field, "empty")
		}
		return nil, nil, fail(sid, "Not"+field, "empty")
	}
	for _, v := range append(append([]string{}, a...), notA...) {
		if v == "" {
			return nil, nil, fail(sid, field, "an empty string matches nothing; remove it")
		}
	}
	return a, notA, nil
}

func parsePrincipal(data json.RawMessage, field, sid string, fail failFunc) (*Principals, error) {
	t := bytes.TrimSpace(data)
	if len(t) == 0 || string(t) == "null" {
		return nil, nil
	}
	var star string
	if json.Unmarshal(t, &star) == nil {
		if star != "*" {
			return nil, fail(sid, field, `%q: a principal is "*" or {"AWS": [names or ARNs]}`, star)
		}
		return &Principals{Any: true}, nil
	}
	var m map[string]stringList
	if err := json.Unmarshal(t, &m); err != nil {
		return nil, fail(sid, field, `a principal is "*" or {"AWS": [names or ARNs]}: %v`, err)
	}
	p := &Principals{}
	for k, names := range m {
		if k != "AWS" {
			return nil, fail(sid, field, `%q principals are not supported; name users and keys under "AWS"`, k)
		}
		if len(names) == 0 {
			return nil, fail(sid, field, "AWS: empty")
		}
		for _, n := range names {
			switch {
			case n == "*":
				p.Any = true
			case n == "" || strings.ContainsAny(n, "*?"):
				return nil, fail(sid, field, `AWS: %q: name one user or key, or "*" for everyone (no wildcards)`, n)
			default:
				p.Names = append(p.Names, principalName(n))
			}
		}
	}
	if !p.Any && len(p.Names) == 0 {
		return nil, fail(sid, field, `empty; give {"AWS": [names]} or "*"`)
	}
	return p, nil
}

// principalName is the identity an ARN names: the part after ":user/"
// or ":key/"; a plain name is itself.
func principalName(s string) string {
	if !strings.HasPrefix(s, "arn:") {
		return s
	}
	for _, sep := range []string{":user/", ":key/"} {
		if i := strings.LastIndex(s, sep); i >= 0 {
			name := s[i+len(sep):]
			if j := strings.LastIndexByte(name, '/'); j >= 0 { // user paths: user/division/name
				name = name[j+1:]
			}
			return name
		}
	}
	return s
}

func parseConditions(block map[string]map[string]json.RawMessage, sid string, fail failFunc) ([]Condition, error) {
	var out []Condition
	for opName, keys := range block {
		base, ifExists := strings.CutSuffix(opName, "IfExists")
		op, ok := operators[base]
		if !ok || (ifExists && base == "Null") {
			return nil, fail(sid, "Condition", "%q is not a supported condition operator (supported: %s)", opName, operatorNames())
		}
		if len(keys) == 0 {
			return nil, fail(sid, "Condition."+opName, "empty")
		}
		for key, rv := range keys {
			lk := strings.ToLower(key)
			if !strings.HasPrefix(lk, "aws:") && !strings.HasPrefix(lk, "s3:") {
				return nil, fail(sid, "Condition."+opName, "%q is not a condition key; keys start with aws: or s3: (aws:SourceIp, s3:prefix)", key)
			}
			vals, err := conditionValues(rv)
			if err != nil {
				return nil, fail(sid, "Condition."+opName+"."+key, "%v", err)
			}
			for _, v := range vals {
				if err := op.check(v); err != nil {
					return nil, fail(sid, "Condition."+opName+"."+key, "%q: %v", v, err)
				}
			}
			out = append(out, Condition{Operator: opName, Key: key, Values: vals, op: op, ifExists: ifExists})
		}
	}
	return out, nil
}

// conditionValues reads a condition's value or list of values: strings,
// numbers or booleans, kept as their text.
func conditionValues(data json.RawMessage) ([]string, error) {
	var list []json.RawMessage
	if t := bytes.TrimSpace(data); len(t) > 0 && t[0] == '[' {
		if err := json.Unmarshal(t, &list); err != nil {
			return nil, err
		}
	} else {
		list = []json.RawMessage{t}
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("empty list of values")
	}
	out := make([]string, len(list))
	for i, v := range list {
		var x any
		if err := json.Unmarshal(v, &x); err != nil {
			return nil, err
		}
		switch x := x.(type) {
		case string:
			out[i] = x
		case bool:
			out[i] = strconv.FormatBool(x)
		case float64:
			out[i] = strings.TrimSpace(string(v))
		default:
			return nil, fmt.Errorf("a condition value is a string, number or boolean, not %s", strings.TrimSpace(string(v)))
		}
	}
	return out, nil
}

// stringList is a JSON string or list of strings (Action, Resource, AWS
// principals). nil when absent.
type stringList []string

func (s *stringList) UnmarshalJSON(data []byte) error {
	if string(bytes.TrimSpace(data)) == "null" {
		return nil
	}
	var one string
	if err := json.Unmarshal(data, &one); err == nil {
		*s = stringList{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(data, &many); err != nil {
		return fmt.Errorf("want a string or a list of strings, got %s", bytes.TrimSpace(data))
	}
	if many == nil {
		many = []string{}
	}
	*s = many
	return nil
}

// strictDecode decodes one JSON object, refusing unknown fields and
// trailing data.
func strictDecode(data []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return fmt.Errorf("data after the JSON object")
	}
	return nil
}
