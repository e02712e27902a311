package grpcapi

import (
	"context"
	"reflect"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/cairnfs/cairn/proto/cairnpb"
)

// TestEveryRPCHasAHandler: Service joins its handler groups by embedding,
// with the generated Unimplemented server one level deeper. A handler
// whose signature drifted from the generated interface would silently
// leave the RPC to Unimplemented; this catches it. Handlers of a zero
// Service either reject the empty request or panic on their missing
// dependencies; only Unimplemented answers codes.Unimplemented.
func TestEveryRPCHasAHandler(t *testing.T) {
	v := reflect.ValueOf(&Service{})
	call := func(name string, args ...reflect.Value) (err error, panicked bool) {
		defer func() {
			if recover() != nil {
				panicked = true
			}
		}()
		out := v.MethodByName(name).Call(args)
		err, _ = out[len(out)-1].Interface().(error)
		return err, false
	}
	// Unary handlers take (ctx, request); streaming ones (request, stream).
	var names []string
	for _, m := range pb.Meta_ServiceDesc.Methods {
		names = append(names, m.MethodName)
	}
	for _, st := range pb.Meta_ServiceDesc.Streams {
		names = append(names, st.StreamName)
	}
	for _, name := range names {
		meth := v.MethodByName(name)
		if !meth.IsValid() {
			t.Errorf("%s: no method", name)
			continue
		}
		in0, in1 := meth.Type().In(0), meth.Type().In(1)
		var args []reflect.Value
		if in0.Kind() == reflect.Pointer {
			args = []reflect.Value{reflect.New(in0.Elem()), reflect.Zero(in1)}
		} else {
			args = []reflect.Value{reflect.ValueOf(context.Background()), reflect.New(in1.Elem())}
		}
		err, panicked := call(name, args...)
		if !panicked && status.Code(err) == codes.Unimplemented {
			t.Errorf("%s is answered by Unimplemented", name)
		}
	}
	if n := len(pb.Meta_ServiceDesc.Methods) + len(pb.Meta_ServiceDesc.Streams); n < 30 {
		t.Errorf("only %d RPCs checked", n)
	}
}
