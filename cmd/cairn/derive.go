package main

import (
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/cairnfs/cairn/meta"
)

// This file derives the settings of `cairn meta` and `cairn node` from
// their flags (which parseServer also fills from the environment), without
// resolving any name: on Kubernetes the headless-service records of the
// peers appear only after their pods start, so every address is kept as
// written and resolved when it is dialed.

// metaInputs are the `cairn meta` flags that shape its identity and its
// addresses.
type metaInputs struct {
	ID, Hostname                 string // --id (or $POD_NAME), and os.Hostname as the fallback
	GRPCAddr, HTTPAddr, RaftAddr string // listen addresses
	GRPCPort                     int    // --grpc-port: overrides GRPCAddr's port when > 0
	ClusterSize                  int    // --cluster-size: initial peers <base>-0..N-1
	PeerDomain                   string // --peer-domain: peer i is <base>-<i>.<domain>
	Advertise                    string // --advertise: host other peers and clients use
	Peers, APIPeers              string // --peers, --api-peers
	Join                         bool   // --join
}

// peerJSON is one initial peer.
type peerJSON struct {
	ID       string `json:"id"`
	RaftAddr string `json:"raft_addr"`
	APIAddr  string `json:"api_addr,omitempty"`
}

// metaSettings is what `cairn meta` derives: printed by --print-config and
// used to start the peer.
type metaSettings struct {
	ID            string     `json:"id"`
	GRPCListen    string     `json:"grpc_listen"`
	HTTPListen    string     `json:"http_listen"`
	RaftListen    string     `json:"raft_listen"`
	RaftAdvertise string     `json:"raft_advertise"`
	APIAddr       string     `json:"api_addr"`
	InitialPeers  []peerJSON `json:"initial_peers"`
	APIPeers      []string   `json:"api_peers"`
	// Join: with no Raft state, wait to be added instead of bootstrapping
	// (--join, or this peer is not among the initial peers).
	Join bool `json:"join"`
}

// deriveMeta computes a metadata peer's settings:
//
//   - ID: --id, else $POD_NAME (an alias of --id), else the host name.
//   - The gRPC listen port is --grpc-port when set.
//   - The advertised host is --advertise, else <id>.<peer-domain> when a
//     domain is set, else the listen host (127.0.0.1 for a wildcard).
//   - With --cluster-size N > 1 and no --peers, the initial peers are
//     <base>-<i>[.<domain>]:<raft port> with IDs <base>-<i> for i in
//     0..N-1, where this peer's ID is <base>-<ordinal> (a StatefulSet pod
//     name), and --api-peers defaults to the same hosts with the gRPC port.
//   - A peer that is not among the initial peers joins instead of
//     bootstrapping.
//
// Errors are usage errors that say which flag to fix.
func deriveMeta(in metaInputs) (metaSettings, error) {
	var s metaSettings
	s.ID = in.ID
	if s.ID == "" {
		s.ID = in.Hostname
	}
	if s.ID == "" {
		return s, usagef("meta needs --id (or CAIRN_ID, or POD_NAME): a peer ID stable across restarts")
	}
	if in.ClusterSize < 0 {
		return s, usagef("--cluster-size %d: must be 0 or more", in.ClusterSize)
	}
	if in.ClusterSize > 1 && in.Peers != "" {
		return s, usagef("give either --peers or --cluster-size (with --peer-domain), not both")
	}
	s.GRPCListen, s.HTTPListen, s.RaftListen = in.GRPCAddr, in.HTTPAddr, in.RaftAddr
	if in.GRPCPort > 0 {
		s.GRPCListen = withPort(in.GRPCAddr, in.GRPCPort)
	}
	raftPort, err := portOf("--raft-addr", s.RaftListen)
	if err != nil {
		return s, err
	}
	grpcPort, err := portOf("--grpc-addr", s.GRPCListen)
	if err != nil {
		return s, err
	}
	domain := strings.Trim(in.PeerDomain, ".")
	host := func(listen string) string {
		switch {
		case in.Advertise != "":
			return in.Advertise
		case domain != "":
			return s.ID + "." + domain
		}
		return listenHost(listen)
	}
	s.RaftAdvertise = net.JoinHostPort(host(s.RaftListen), raftPort)
	s.APIAddr = net.JoinHostPort(host(s.GRPCListen), grpcPort)
	if s.InitialPeers, err = initialPeers(in, s.ID, domain, raftPort, grpcPort); err != nil {
		return s, err
	}
	for _, p := range s.InitialPeers {
		if p.ID == s.ID {
			s.RaftAdvertise = p.RaftAddr
		}
	}
	s.APIPeers = splitList(in.APIPeers)
	if len(s.APIPeers) == 0 && in.ClusterSize > 1 {
		for _, p := range s.InitialPeers {
			s.APIPeers = append(s.APIPeers, p.APIAddr)
		}
	}
	member := slices.ContainsFunc(s.InitialPeers, func(p peerJSON) bool { return p.ID == s.ID })
	s.Join = in.Join || (len(s.InitialPeers) > 0 && !member)
	return s, nil
}

// initialPeers returns the peers of --peers, or those --cluster-size
// derives.
func initialPeers(in metaInputs, id, domain, raftPort, grpcPort string) ([]peerJSON, error) {
	var out []peerJSON
	if in.Peers != "" {
		ps, err := meta.ParsePeers(in.Peers)
		if err != nil {
			return nil, usagef("--peers: %v", err)
		}
		for _, p := range ps {
			out = append(out, peerJSON{ID: p.ID, RaftAddr: p.RaftAddr})
		}
		return out, nil
	}
	if in.ClusterSize <= 1 {
		return nil, nil
	}
	base, _, ok := splitOrdinal(id)
	if !ok {
		return nil, usagef("--cluster-size %d needs a peer ID ending in -<ordinal> (a StatefulSet pod name like cairn-meta-0), got %q; set --id or POD_NAME, or list --peers", in.ClusterSize, id)
	}
	for i := range in.ClusterSize {
		name := base + "-" + strconv.Itoa(i)
		h := name
		if domain != "" {
			h += "." + domain
		}
		out = append(out, peerJSON{ID: name, RaftAddr: net.JoinHostPort(h, raftPort), APIAddr: net.JoinHostPort(h, grpcPort)})
	}
	return out, nil
}

// splitOrdinal splits "cairn-meta-2" into "cairn-meta" and 2.
func splitOrdinal(id string) (string, int, bool) {
	i := strings.LastIndexByte(id, '-')
	if i <= 0 {
		return "", 0, false
	}
	n, err := strconv.Atoi(id[i+1:])
	if err != nil || n < 0 {
		return "", 0, false
	}
	return id[:i], n, true
}

// nodeInputs are the `cairn node` flags that shape its addresses.
type nodeInputs struct {
	Addr      string // --addr: listen address
	Port      int    // --port: overrides Addr's port when > 0
	Advertise string // --advertise: host[:port]
	Meta      string // --meta: metadata peers
}

// nodeSettings is what `cairn node` derives.
type nodeSettings struct {
	Listen    string   `json:"listen"`
	Advertise string   `json:"advertise"`
	Meta      []string `json:"meta"`
}

// deriveNode computes a data node's settings: the listen port is --port
// when set; the advertised address is --advertise (a host without a port
// gets the listen port; a DNS name is fine), else the listen address with
// 127.0.0.1 for a wildcard host.
func deriveNode(in nodeInputs) (nodeSettings, error) {
	s := nodeSettings{Listen: in.Addr, Meta: splitList(in.Meta)}
	if in.Port > 0 {
		s.Listen = withPort(in.Addr, in.Port)
	}
	port, err := portOf("--addr", s.Listen)
	if err != nil {
		return s, err
	}
	if len(s.Meta) == 0 {
		return s, usagef("node needs --meta host:port[,...] (or METADATA_SERVER_ADDR): the metadata peers")
	}
	switch {
	case in.Advertise == "":
		s.Advertise = net.JoinHostPort(listenHost(s.Listen), port)
	case hasPort(in.Advertise):
		s.Advertise = in.Advertise
	default:
		s.Advertise = net.JoinHostPort(in.Advertise, port)
	}
	return s, nil
}

// serverSettings is what `cairn server` derives (for --print-config).
type serverSettings struct {
	Advertise string `json:"advertise"` // host clients use
	GRPC      string `json:"grpc"`      // metadata API as clients reach it
	HTTP      string `json:"http"`      // HTTP listen address
	Raft      string `json:"raft"`
	Data      string `json:"data"` // data node as clients reach it
}

// withPort replaces the port of a host:port listen address.
func withPort(addr string, port int) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr // a bare host
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}

func portOf(flagName, addr string) (string, error) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" {
		return "", usagef("%s %q: want [host]:port", flagName, addr)
	}
	return port, nil
}

func hasPort(addr string) bool {
	_, port, err := net.SplitHostPort(addr)
	return err == nil && port != ""
}

// listenHost is the host others use for a listen address: its host, or
// 127.0.0.1 for a wildcard.
func listenHost(listen string) string {
	host, _, _ := net.SplitHostPort(listen)
	if host == "" || host == "0.0.0.0" || host == "::" {
		return "127.0.0.1"
	}
	return host
}

// splitList splits a comma-separated list, dropping blanks.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
