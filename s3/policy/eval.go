package policy

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Decision is what a policy says about a request.
type Decision int

const (
	// NoDecision: no statement matched (an implicit deny).
	NoDecision Decision = iota
	// Allowed: an Allow statement matched and no Deny did.
	Allowed
	// Denied: a Deny statement matched; nothing else can allow it.
	Denied
)

func (d Decision) String() string {
	switch d {
	case Allowed:
		return "allowed"
	case Denied:
		return "denied"
	}
	return "no decision"
}

// Request is what a policy is evaluated against.
type Request struct {
	// Principal is the caller's identity (a user name, or an access key
	// without one); "" for an anonymous (unsigned) request, which only
	// "*" principals match.
	Principal string
	// Action is the IAM action, e.g. s3:GetObject.
	Action string
	// Resource is the ARN acted on: arn:aws:s3:::bucket or
	// arn:aws:s3:::bucket/key; "*" for actions on no bucket.
	Resource string
	// Context holds the condition keys' values, keys in lower case
	// (aws:sourceip, aws:securetransport, s3:prefix). A key that is
	// absent is absent from the request (see Null and ...IfExists).
	Context map[string][]string
}

// Evaluate applies p to req: Denied if any matching statement denies,
// else Allowed if any allows, else NoDecision. A nil policy has no
// statements.
func (p *Policy) Evaluate(req *Request) Decision {
	if p == nil {
		return NoDecision
	}
	d := NoDecision
	for i := range p.Statements {
		s := &p.Statements[i]
		if !s.matches(req) {
			continue
		}
		if s.Effect == Deny {
			return Denied
		}
		d = Allowed
	}
	return d
}

func (s *Statement) matches(req *Request) bool {
	if s.Principal != nil && !s.Principal.match(req.Principal) {
		return false
	}
	if s.NotPrincipal != nil && s.NotPrincipal.match(req.Principal) {
		return false
	}
	if s.Action != nil && !slices.ContainsFunc(s.Action, func(a string) bool { return matchFold(a, req.Action) }) {
		return false
	}
	if s.NotAction != nil && slices.ContainsFunc(s.NotAction, func(a string) bool { return matchFold(a, req.Action) }) {
		return false
	}
	matchRes := func(pat string) bool { return pat == "*" || match(substitute(pat, req.Context), req.Resource) }
	if s.Resource != nil && !slices.ContainsFunc(s.Resource, matchRes) {
		return false
	}
	if s.NotResource != nil && slices.ContainsFunc(s.NotResource, matchRes) {
		return false
	}
	for i := range s.Conditions {
		if !s.Conditions[i].holds(req.Context) {
			return false
		}
	}
	return true
}

func (p *Principals) match(who string) bool {
	return p.Any || (who != "" && slices.Contains(p.Names, who))
}

// substitute replaces policy variables in a resource pattern:
// ${aws:username} and other context keys by their (single) value, ${*},
// ${?} and ${$} by the literal character. A variable without a value
// makes the pattern match nothing, as AWS does.
func substitute(pat string, ctx map[string][]string) string {
	if !strings.Contains(pat, "${") {
		return pat
	}
	var b strings.Builder
	for {
		i := strings.Index(pat, "${")
		if i < 0 {
			b.WriteString(pat)
			return b.String()
		}
		j := strings.IndexByte(pat[i:], '}')
		if j < 0 {
			b.WriteString(pat)
			return b.String()
		}
		b.WriteString(pat[:i])
		name := pat[i+2 : i+j]
		switch name {
		case "*", "?", "$":
			// A literal character cannot be expressed in the pattern
			// language; these are rare in keys and match themselves
			// through '?'.
			b.WriteByte('?')
		default:
			v := ctx[strings.ToLower(name)]
			if len(v) != 1 {
				return "\x00" // matches no resource
			}
			b.WriteString(v[0])
		}
		pat = pat[i+j+1:]
	}
}

func (c *Condition) holds(ctx map[string][]string) bool {
	got, present := ctx[strings.ToLower(c.Key)]
	if c.op.null {
		want := c.Values[0] == "true"
		return want != present
	}
	if !present {
		return c.ifExists || c.op.negated
	}
	for _, g := range got {
		for _, v := range c.Values {
			if c.op.test(g, substitute(v, ctx)) {
				return !c.op.negated
			}
		}
	}
	return c.op.negated
}

// operator is a condition operator: test compares a request's value with
// a policy's; check validates the policy's at parse time.
type operator struct {
	test    func(got, want string) bool
	check   func(want string) error
	negated bool // true when no value may match
	null    bool
}

var operators = newOperators()

func newOperators() map[string]*operator {
	str := func(string) error { return nil }
	eq := func(g, w string) bool { return g == w }
	like := func(g, w string) bool { return match(w, g) }
	num := func(cmp func(a, b float64) bool) func(string, string) bool {
		return func(g, w string) bool {
			a, err1 := strconv.ParseFloat(g, 64)
			b, err2 := strconv.ParseFloat(w, 64)
			return err1 == nil && err2 == nil && cmp(a, b)
		}
	}
	numEq := num(func(a, b float64) bool { return a == b })
	return map[string]*operator{
		"StringEquals":              {test: eq, check: str},
		"StringNotEquals":           {test: eq, check: str, negated: true},
		"StringEqualsIgnoreCase":    {test: strings.EqualFold, check: str},
		"StringNotEqualsIgnoreCase": {test: strings.EqualFold, check: str, negated: true},
		"StringLike":                {test: like, check: str},
		"StringNotLike":             {test: like, check: str, negated: true},
		"IpAddress":                 {test: inRange, check: checkRange},
		"NotIpAddress":              {test: inRange, check: checkRange, negated: true},
		"Bool":                      {test: strings.EqualFold, check: checkBool},
		"Null":                      {null: true, check: checkBool},
		"NumericEquals":             {test: numEq, check: checkNumber},
		"NumericNotEquals":          {test: numEq, check: checkNumber, negated: true},
		"NumericLessThan":           {test: num(func(a, b float64) bool { return a < b }), check: checkNumber},
		"NumericLessThanEquals":     {test: num(func(a, b float64) bool { return a <= b }), check: checkNumber},
		"NumericGreaterThan":        {test: num(func(a, b float64) bool { return a > b }), check: checkNumber},
		"NumericGreaterThanEquals":  {test: num(func(a, b float64) bool { return a >= b }), check: checkNumber},
	}
}

func operatorNames() string {
	names := make([]string, 0, len(operators))
	for n := range operators {
		names = append(names, n)
	}
	slices.Sort(names)
	return strings.Join(names, ", ") + ", each also ...IfExists but Null"
}

func checkBool(v string) error {
	if v != "true" && v != "false" {
		return fmt.Errorf(`want true or false`)
	}
	return nil
}

func checkNumber(v string) error {
	if _, err := strconv.ParseFloat(v, 64); err != nil {
		return fmt.Errorf("not a number")
	}
	return nil
}

func checkRange(v string) error {
	if _, err := parseRange(v); err != nil {
		return fmt.Errorf("not an IP address or CIDR range (192.0.2.0/24, 2001:db8::/32)")
	}
	return nil
}

func parseRange(v string) (netip.Prefix, error) {
	if strings.Contains(v, "/") {
		p, err := netip.ParsePrefix(v)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(v)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func inRange(got, want string) bool {
	a, err := netip.ParseAddr(got)
	if err != nil {
		return false
	}
	p, err := parseRange(want)
	return err == nil && p.Contains(a.Unmap())
}
