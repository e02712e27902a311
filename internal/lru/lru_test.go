package lru

import "testing"

func TestCache(t *testing.T) {
	c := New[string, int](2)
	c.Add("a", 1)
	c.Add("b", 2)
	if v, ok := c.Get("a"); !ok || v != 1 { // a is now the most recent
		t.Fatalf("Get(a) = %d, %v", v, ok)
	}
	c.Add("c", 3) // forgets b
	if _, ok := c.Get("b"); ok {
		t.Error("b survived past the size")
	}
	c.Add("a", 4)
	if v, _ := c.Get("a"); v != 4 || c.Len() != 2 {
		t.Errorf("after replacing a: %d, len %d", v, c.Len())
	}
	c.Remove("a")
	if _, ok := c.Get("a"); ok || c.Len() != 1 {
		t.Errorf("after Remove: len %d", c.Len())
	}
}
