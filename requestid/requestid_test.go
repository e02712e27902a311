package requestid

import (
	"bytes"
	"context"
	"testing"

	"google.golang.org/grpc/metadata"
)

func TestRoundTrip(t *testing.T) {
	src := NewSource()
	a, b := src.Next(), src.Next()
	if a.Seq == b.Seq || !bytes.Equal(a.Client, b.Client) {
		t.Fatalf("ids %v and %v: want one client, two sequence numbers", a, b)
	}
	if bytes.Equal(NewSource().Next().Client, a.Client) {
		t.Error("two sources share a client ID")
	}
	out := Attach(context.Background(), b)
	md, _ := metadata.FromOutgoingContext(out)
	in := metadata.NewIncomingContext(context.Background(), md)
	got, err := From(in)
	if err != nil || got == nil || got.Seq != b.Seq || !bytes.Equal(got.Client, b.Client) {
		t.Fatalf("From = %v, %v; want %v", got, err, b)
	}
	if got, err := From(context.Background()); got != nil || err != nil {
		t.Errorf("no header: %v, %v", got, err)
	}
	for _, bad := range []string{"zz.1", "0011.1", "00112233445566778899.x", "0011223344556677"} {
		in := metadata.NewIncomingContext(context.Background(), metadata.Pairs(Header, bad))
		if _, err := From(in); err == nil {
			t.Errorf("header %q accepted", bad)
		}
	}
}
