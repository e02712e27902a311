.PHONY: build test race proto lint bench

build:
	go build -o bin/cairn ./cmd/cairn

test:
	go test ./...

race:
	go test -race ./...

# Requires protoc, protoc-gen-go and protoc-gen-go-grpc on PATH.
proto:
	protoc --proto_path=proto --go_out=proto/cairnpb --go_opt=paths=source_relative \
		--go-grpc_out=proto/cairnpb --go-grpc_opt=paths=source_relative proto/cairn.proto

lint:
	gofmt -l . | (! grep .)
	go vet ./...

bench:
	go test -run '^$$' -bench . -benchtime 2s ./volume/ ./meta/placement/
