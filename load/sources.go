package load

import (
	"context"
	"net"
	"sync/atomic"
	"time"
)

// SpreadNetwork is the block of loopback source addresses load
// connections are spread over: 127.1.0.1 to 127.1.255.254.
const SpreadNetwork = "127.1.0.0/16"

// spreadDialer opens each connection from the next source address of
// SpreadNetwork, round robin. With one source address, a new connection
// may reuse the exact 4-tuple of one that failed a moment ago, and the
// conntrack entry that tuple still has (a SYN to a pod that is gone waits
// 120s in SYN_SENT) sends it, NATed as before, to the dead pod: a timeout
// the workload did nothing to cause. Over 65,534 source addresses a tuple
// comes back only after every other address was used.
type spreadDialer struct {
	next atomic.Uint32
	base net.Dialer
}

func newSpreadDialer(timeout time.Duration) *spreadDialer {
	// one request per connection: TCP keep-alive probes would never fire,
	// and setting them up costs three system calls per connection
	return &spreadDialer{base: net.Dialer{Timeout: timeout, KeepAlive: -1, Control: bindAddressNoPort}}
}

// source returns the i-th source address: 127.1.hi.lo, never .0 or .255
// in the last octet's place of the block's ends.
func source(i uint32) net.IP {
	n := i%65534 + 1 // 1..65534
	return net.IPv4(127, 1, byte(n>>8), byte(n))
}

func (s *spreadDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d := s.base
	d.LocalAddr = &net.TCPAddr{IP: source(s.next.Add(1) - 1)}
	return d.DialContext(ctx, network, addr)
}
