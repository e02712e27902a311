.PHONY: build test test-long race proto lint bench image docker-tier

build:
	go build -o bin/cairn ./cmd/cairn

# The README's test command, with a timeout: every test at the size that
# keeps the suite within minutes. test-long adds the long fault campaigns
# and full-size workloads (CAIRN_LONG_TESTS=1), as .ci/run does.
test:
	go test -timeout 15m ./...

test-long:
	CAIRN_LONG_TESTS=1 go test -timeout 30m ./...

race:
	go test -race -short -timeout 15m ./...

# Requires protoc, protoc-gen-go and protoc-gen-go-grpc on PATH.
proto:
	protoc --proto_path=proto --go_out=proto/cairnpb --go_opt=paths=source_relative \
		--go-grpc_out=proto/cairnpb --go-grpc_opt=paths=source_relative proto/cairn.proto

lint:
	gofmt -l . | (! grep .)
	go vet ./...

bench:
	go test -run '^$$' -bench . -benchtime 2s ./volume/ ./meta/placement/

# The container image: a static binary (CGO_ENABLED=0, -trimpath) in a
# FROM scratch image; pulls nothing, so it builds air-gapped.
IMAGE ?= cairn:dev
image:
	IMAGE=$(IMAGE) deploy/docker/build-image.sh

# The image and the Kubernetes base's configuration as a 3+3 cluster on a
# local Docker engine (skipped without one). See .ci/docker-tier.sh.
docker-tier:
	.ci/docker-tier.sh
