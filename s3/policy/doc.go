// Package policy parses and evaluates AWS IAM policy documents, as the S3
// gateway uses them: bucket policies (who may do what to a bucket and its
// objects) and identity policies (what one access key may do).
//
// A document has a Version and one or more statements; each statement
// allows or denies a set of actions (Action or NotAction, with * and ?
// wildcards, such as s3:Get*) on a set of resources (Resource or
// NotResource, ARNs such as arn:aws:s3:::photos/2024/*), for a set of
// principals (Principal or NotPrincipal; bucket policies only), when its
// conditions hold. Evaluation follows AWS: an explicit Deny in any
// matching statement wins, then an Allow; with neither, the answer is
// NoDecision (an implicit deny, unless another policy allows).
//
// Parse refuses a document it cannot evaluate exactly — an unknown field,
// condition operator or key prefix, a malformed IP range or number — with
// an *Error naming the statement and the field, rather than evaluating
// part of it. It imports only the standard library.
package policy
