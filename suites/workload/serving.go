package workload

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// ServingProbe says how WaitServing asks: the load's method, URL and
// per-request timeout (an answer the load would count as a success must
// count here too, or a slow but healthy target never looks ready).
type ServingProbe struct {
	Method, URL    string
	RequestTimeout time.Duration
}

// servingBatch is how many probe requests go out at once: a target whose
// answers take 700ms would otherwise need 20s for a streak of 30.
const servingBatch = 10

// WaitServing waits until the exposed target answers want requests in a
// row with success, each on a new connection, the way the load will ask
// (same method, same URL, same timeout) and judged the way the load judges
// (2xx or 3xx). Right after a rollout, kube-proxy may still route some
// connections to pods that are gone; load started then would blame the
// workload for the cluster's catching up. Requests go out in batches; one
// failure in a batch starts the streak again.
func WaitServing(ctx context.Context, p ServingProbe, want int, timeout time.Duration) error {
	client := &http.Client{
		Timeout:   p.RequestTimeout,
		Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil},
		// the load does not follow redirects either: a 3xx is an answer
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	streak := 0
	var last error
	for {
		n := min(servingBatch, want-streak)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = serveOnce(ctx, client, p.Method, p.URL)
			}()
		}
		wg.Wait()
		failed := false
		for _, err := range errs {
			if err != nil {
				failed, last = true, err
			}
		}
		pause := 20 * time.Millisecond
		if failed {
			streak, pause = 0, 200*time.Millisecond
		} else if streak += n; streak >= want {
			return nil
		}
		select {
		case <-ctx.Done():
			if last == nil {
				last = ctx.Err()
			}
			return fmt.Errorf("target %s %s did not answer %d requests in a row with 2xx/3xx within %s (last error: %v)", p.Method, p.URL, want, timeout, last)
		case <-time.After(pause):
		}
	}
}

func serveOnce(ctx context.Context, client *http.Client, method, url string) error {
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}
