package cairn

import (
	"errors"
	"strings"
	"testing"
)

func TestCleanPath(t *testing.T) {
	name255 := strings.Repeat("a", MaxNameLen)
	name256 := strings.Repeat("a", MaxNameLen+1)
	// A path of exactly n bytes made of valid components.
	pathOf := func(n int) string {
		var b strings.Builder
		for b.Len() < n {
			// Segments of 101 bytes; the sizes used leave no 1-byte rest.
			b.WriteString("/" + strings.Repeat("x", min(100, n-b.Len()-1)))
		}
		return b.String()
	}
	p4096, p4097 := pathOf(MaxPathLen), pathOf(MaxPathLen+1)
	if len(p4096) != MaxPathLen || len(p4097) != MaxPathLen+1 {
		t.Fatalf("test setup: lengths %d, %d", len(p4096), len(p4097))
	}
	tests := []struct {
		in, want string
		bad      bool
	}{
		{in: "", bad: true},
		{in: "a", bad: true},
		{in: "a/b", bad: true},
		{in: "./a", bad: true},
		{in: "/", want: "/"},
		{in: "//", want: "/"},
		{in: "/a", want: "/a"},
		{in: "/a/", want: "/a"},
		{in: "/a/b/", want: "/a/b"},
		{in: "//a///b//", want: "/a/b"},
		{in: "/a/./b", bad: true},
		{in: "/.", bad: true},
		{in: "/a/\xff\xfe", bad: true}, // not UTF-8
		{in: "/caf\xc3\xa9/日本", want: "/caf\xc3\xa9/日本"},
		{in: "/..", bad: true},
		{in: "/a/..", bad: true},
		{in: "/a/../b", bad: true},
		{in: "/..a/b..", want: "/..a/b.."},
		{in: "/.hidden", want: "/.hidden"},
		{in: "/a\x00b", bad: true},
		{in: "/\x00", bad: true},
		{in: "/" + name255, want: "/" + name255},
		{in: "/" + name256, bad: true},
		{in: "/d/" + name256 + "/e", bad: true},
		{in: p4096, want: p4096},
		{in: p4097, bad: true},
		{in: "/with space/ünïcode", want: "/with space/ünïcode"},
	}
	for _, tt := range tests {
		got, err := CleanPath(tt.in)
		short := tt.in
		if len(short) > 40 {
			short = short[:40] + "..."
		}
		if tt.bad {
			if err == nil {
				t.Errorf("CleanPath(%q) = %q, want Invalid error", short, got)
			} else if !errors.Is(err, Invalid) {
				t.Errorf("CleanPath(%q) error %v has kind %v, want Invalid", short, err, KindOf(err))
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("CleanPath(%q) = %q, %v; want %q", short, got, err, tt.want)
		}
	}
}

func TestCleanPathErrorMentionsInput(t *testing.T) {
	for _, in := range []string{"relative/path", "/a/../b", "/a\x00b"} {
		_, err := CleanPath(in)
		if err == nil {
			t.Fatalf("CleanPath(%q) succeeded", in)
		}
		want := in
		if strings.ContainsRune(in, 0) {
			want = "a\\x00b" // quoted form
		}
		if !strings.Contains(err.Error(), want) {
			t.Errorf("CleanPath(%q) error %q does not mention the input", in, err)
		}
	}
}

func TestValidName(t *testing.T) {
	for _, ok := range []string{"a", "...", "a.b", strings.Repeat("z", MaxNameLen)} {
		if err := ValidName(ok); err != nil {
			t.Errorf("ValidName(%q) = %v, want nil", ok, err)
		}
	}
	for _, bad := range []string{"", ".", "..", "a/b", "a\x00", "\xc3", strings.Repeat("z", MaxNameLen+1)} {
		if err := ValidName(bad); !errors.Is(err, Invalid) {
			t.Errorf("ValidName(%q) = %v, want Invalid", bad, err)
		}
	}
}

func TestSplitPath(t *testing.T) {
	tests := map[string][]string{
		"/":         {},
		"":          {},
		"/a":        {"a"},
		"//a//b/":   {"a", "b"},
		"/a/b/c":    {"a", "b", "c"},
		"rel/ative": {"rel", "ative"},
	}
	for in, want := range tests {
		got := SplitPath(in)
		if strings.Join(got, "|") != strings.Join(want, "|") || len(got) != len(want) {
			t.Errorf("SplitPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParentPath(t *testing.T) {
	tests := []struct{ in, dir, base string }{
		{"/", "/", ""},
		{"/a", "/", "a"},
		{"/a/b", "/a", "b"},
		{"/a/b/c", "/a/b", "c"},
	}
	for _, tt := range tests {
		dir, base := ParentPath(tt.in)
		if dir != tt.dir || base != tt.base {
			t.Errorf("ParentPath(%q) = %q, %q; want %q, %q", tt.in, dir, base, tt.dir, tt.base)
		}
	}
}

func FuzzCleanPath(f *testing.F) {
	for _, s := range []string{"", "/", "//", "/a/b", "/a/../b", "/./", "a", "/a\x00", "///x//y///", "/" + strings.Repeat("n", 256)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := CleanPath(in)
		if err != nil {
			if !errors.Is(err, Invalid) {
				t.Fatalf("CleanPath(%q) error %v is not Invalid", in, err)
			}
			return
		}
		again, err := CleanPath(out)
		if err != nil || again != out {
			t.Fatalf("CleanPath(%q) = %q, but CleanPath of that = %q, %v", in, out, again, err)
		}
		if !strings.HasPrefix(out, "/") {
			t.Fatalf("CleanPath(%q) = %q: not absolute", in, out)
		}
		if strings.Contains(out, "//") {
			t.Fatalf("CleanPath(%q) = %q: contains //", in, out)
		}
		if strings.IndexByte(out, 0) >= 0 {
			t.Fatalf("CleanPath(%q) = %q: contains NUL", in, out)
		}
		if len(out) > MaxPathLen {
			t.Fatalf("CleanPath(%q) is %d bytes", in, len(out))
		}
		if out != "/" && strings.HasSuffix(out, "/") {
			t.Fatalf("CleanPath(%q) = %q: trailing slash", in, out)
		}
		for _, c := range SplitPath(out) {
			if c == "." || c == ".." {
				t.Fatalf("CleanPath(%q) = %q: has %q component", in, out, c)
			}
			if len(c) > MaxNameLen {
				t.Fatalf("CleanPath(%q) has a %d-byte component", in, len(c))
			}
		}
	})
}
