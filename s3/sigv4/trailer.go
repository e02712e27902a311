package sigv4

import (
	"io"
	"strings"
)

// trailer is one "name:value" line after the final chunk.
type trailer struct{ name, value string }

// readTrailers reads the trailer lines up to the empty line that ends the
// body (or the end of the body), verifies the trailer signature for signed
// chunks and hands the announced checksum's value to c.ck.
func (c *chunkedReader) readTrailers() error {
	trailers, sig, err := c.readTrailerLines()
	if err != nil {
		return err
	}
	if c.sig != nil {
		if sig == "" {
			return errIncomplete("The %s trailer is missing; with x-amz-content-sha256 %s the trailers "+
				"must be signed.", trailerSigName, streamingSignedTrailer)
		}
		var canonical strings.Builder
		for _, t := range trailers {
			canonical.WriteString(t.name + ":" + t.value + "\n")
		}
		if !c.sig.verifyTrailer(canonical.String(), sig) {
			return errorf(codeSignatureMismatch, "The trailer signature does not match (string to sign "+
				"AWS4-HMAC-SHA256-TRAILER over the trailer lines). %s", signatureHint)
		}
	}
	if c.ck == nil {
		return nil
	}
	for _, t := range trailers {
		if t.name == c.ck.alg.header {
			return c.ck.setWant(t.value)
		}
	}
	return errIncomplete("The trailer %s announced in X-Amz-Trailer was not sent after the final chunk.",
		c.ck.alg.header)
}

// readTrailerLines returns the trailer lines (names lowercased, values
// trimmed) and the trailer signature. One empty line directly after the
// final chunk is skipped when more follows, as some clients send one, and a
// missing final empty line is tolerated.
func (c *chunkedReader) readTrailerLines() ([]trailer, string, error) {
	var trailers []trailer
	sig := ""
	for first := true; ; first = false {
		line, err := c.readLine()
		if err == io.EOF {
			return trailers, sig, nil // the final empty line may be missing
		} else if err != nil {
			return nil, "", err
		}
		if line == "" {
			if first && c.moreData() {
				continue
			}
			return trailers, sig, nil
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			return nil, "", errFraming("trailer line %.80q is not name:value.", line)
		}
		name, value = strings.ToLower(strings.TrimSpace(name)), strings.TrimSpace(value)
		if name == trailerSigName {
			if sig != "" {
				return nil, "", errFraming("%s is sent twice.", trailerSigName)
			}
			sig = value
		} else {
			if len(trailers) == maxTrailerLines {
				return nil, "", errFraming("more than %d trailers.", maxTrailerLines)
			}
			trailers = append(trailers, trailer{name, value})
		}
	}
}

// moreData reports whether the body has more bytes.
func (c *chunkedReader) moreData() bool {
	_, err := c.br.Peek(1)
	return err == nil
}
