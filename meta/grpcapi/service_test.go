package grpcapi

import (
	"context"
	"reflect"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/cairnfs/cairn/proto/cairnpb"
)

// TestEveryRPCHasAHandler: each handler group embeds its service's
// generated Unimplemented server. A handler whose signature drifted from
// the generated interface would silently leave the RPC to Unimplemented;
// this catches it. Handlers of a zero group either reject the empty
// request or panic on their missing dependencies; only Unimplemented
// answers codes.Unimplemented.
func TestEveryRPCHasAHandler(t *testing.T) {
	var v Service
	groups := []struct {
		desc grpc.ServiceDesc
		impl any
	}{
		{pb.Namespace_ServiceDesc, v.namespace},
		{pb.Data_ServiceDesc, v.data},
		{pb.Nodes_ServiceDesc, v.nodes},
		{pb.Cluster_ServiceDesc, v.cluster},
		{pb.Operator_ServiceDesc, v.operator},
		{pb.Credentials_ServiceDesc, v.credentials},
	}
	checked := 0
	for _, g := range groups {
		if !reflect.TypeOf(g.impl).Implements(reflect.TypeOf(g.desc.HandlerType).Elem()) {
			t.Errorf("%T does not implement %s", g.impl, g.desc.ServiceName)
			continue
		}
		// Unary handlers take (ctx, request); streaming ones (request, stream).
		var names []string
		for _, m := range g.desc.Methods {
			names = append(names, m.MethodName)
		}
		for _, st := range g.desc.Streams {
			names = append(names, st.StreamName)
		}
		for _, name := range names {
			checked++
			if err, panicked := callZero(reflect.ValueOf(g.impl), name); !panicked && status.Code(err) == codes.Unimplemented {
				t.Errorf("%s.%s is answered by Unimplemented", g.desc.ServiceName, name)
			}
		}
	}
	if checked < 34 {
		t.Errorf("only %d RPCs checked", checked)
	}
}

// callZero calls method name of v with a zero request (and a background
// context or a nil stream), reporting its error or that it panicked.
func callZero(v reflect.Value, name string) (err error, panicked bool) {
	meth := v.MethodByName(name)
	in0, in1 := meth.Type().In(0), meth.Type().In(1)
	var args []reflect.Value
	if in0.Kind() == reflect.Pointer {
		args = []reflect.Value{reflect.New(in0.Elem()), reflect.Zero(in1)}
	} else {
		args = []reflect.Value{reflect.ValueOf(context.Background()), reflect.New(in1.Elem())}
	}
	defer func() {
		if recover() != nil {
			panicked = true
		}
	}()
	out := meth.Call(args)
	err, _ = out[len(out)-1].Interface().(error)
	return err, false
}
