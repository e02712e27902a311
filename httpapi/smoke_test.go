package httpapi

import "testing"

func TestSmoke(t *testing.T) {
	srv, _ := newTestServer(t)
	_ = srv
}
