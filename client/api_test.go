package client

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// generatedPkg is the import path of the generated protobuf code, which
// stays behind the SDK's boundary.
const generatedPkg = "github.com/cairnfs/cairn/proto/cairnpb"

// TestNoGeneratedTypesInAPI: no exported function, method, type, field or
// alias of the package mentions a generated type, so that callers speak
// Cairn's types and the wire can change without breaking them.
func TestNoGeneratedTypesInAPI(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, name, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, leak := range generatedInAPI(f) {
			t.Errorf("%s: exported API uses a generated type", fset.Position(leak))
		}
		checked++
	}
	if checked == 0 {
		t.Fatal("no source files found")
	}
}

// TestGeneratedInAPIFindsLeaks keeps the check above honest: it must see a
// generated type wherever the exported API can mention one, and nowhere
// else.
func TestGeneratedInAPIFindsLeaks(t *testing.T) {
	const src = `package client

import gen "github.com/cairnfs/cairn/proto/cairnpb"

type T struct{}
type hidden struct{}

func Leak1() *gen.Attr                   { return nil }
func Leak2(a []*gen.Attr)                {}
func (T) Leak3() map[string]gen.Attr     { return nil }
type Leak4 = gen.Attr
type Leak5 struct{ Field *gen.Attr }
type Leak6 struct{ *gen.Attr }
type Leak7 interface{ M(gen.Attr) }
type Leak8 func() gen.Attr

func fine() *gen.Attr                    { return nil }
func (hidden) Fine() *gen.Attr           { return nil }
func (T) fine() *gen.Attr                { return nil }
type fineType = gen.Attr
type Fine struct{ field *gen.Attr }
`
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "leaks.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	var lines []int
	for _, p := range generatedInAPI(f) {
		lines = append(lines, fset.Position(p).Line)
	}
	want := []int{8, 9, 10, 11, 12, 13, 14, 15}
	if len(lines) != len(want) {
		t.Fatalf("found leaks on lines %v, want %v", lines, want)
	}
	for i := range want {
		if lines[i] != want[i] {
			t.Fatalf("found leaks on lines %v, want %v", lines, want)
		}
	}
}

// generatedInAPI returns where f's exported declarations mention a type
// of generatedPkg, one position per declaration.
func generatedInAPI(f *ast.File) []token.Pos {
	names := map[string]bool{}
	for _, imp := range f.Imports {
		path, _ := strconv.Unquote(imp.Path.Value)
		if path != generatedPkg {
			continue
		}
		name := "cairnpb"
		if imp.Name != nil {
			name = imp.Name.Name
		}
		names[name] = true
	}
	if len(names) == 0 {
		return nil
	}
	mentions := func(n ast.Node) bool {
		found := false
		ast.Inspect(n, func(n ast.Node) bool {
			if sel, ok := n.(*ast.SelectorExpr); ok {
				if id, ok := sel.X.(*ast.Ident); ok && names[id.Name] {
					found = true
				}
			}
			return !found
		})
		return found
	}
	var out []token.Pos
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			if d.Name.IsExported() && exportedRecv(d.Recv) && mentions(d.Type) {
				out = append(out, d.Pos())
			}
		case *ast.GenDecl:
			for _, spec := range d.Specs {
				ts, ok := spec.(*ast.TypeSpec)
				if !ok || !ts.Name.IsExported() {
					continue
				}
				if st, ok := ts.Type.(*ast.StructType); ok && ts.Assign == 0 {
					for _, field := range st.Fields.List {
						if exportedField(field) && mentions(field.Type) {
							out = append(out, field.Pos())
						}
					}
					continue
				}
				if mentions(ts.Type) {
					out = append(out, ts.Pos())
				}
			}
		}
	}
	return out
}

// exportedRecv reports whether a method's receiver type is exported (or
// the declaration is a plain function).
func exportedRecv(recv *ast.FieldList) bool {
	if recv == nil || len(recv.List) == 0 {
		return true
	}
	typ := recv.List[0].Type
	if star, ok := typ.(*ast.StarExpr); ok {
		typ = star.X
	}
	id, ok := typ.(*ast.Ident)
	return ok && id.IsExported()
}

// exportedField reports whether a struct field is visible outside the
// package: a named exported field, or an embedded one (whose promoted
// fields and methods are).
func exportedField(f *ast.Field) bool {
	if len(f.Names) == 0 {
		return true
	}
	for _, n := range f.Names {
		if n.IsExported() {
			return true
		}
	}
	return false
}
