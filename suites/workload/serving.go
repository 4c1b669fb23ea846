package workload

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// WaitServing waits until the exposed target answers want requests in a
// row with success, each on a new connection, the way the load will ask
// (same method, same URL) and judged the way the load judges (2xx or 3xx).
// Right after a rollout, kube-proxy may still route some connections to
// pods that are gone; load started then would blame the workload for the
// cluster's catching up.
func WaitServing(ctx context.Context, method, url string, want int, timeout time.Duration) error {
	client := &http.Client{
		Timeout:   time.Second,
		Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil},
		// the load does not follow redirects either: a 3xx is an answer
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	streak := 0
	var last error
	for {
		err := serveOnce(ctx, client, method, url)
		if err == nil {
			if streak++; streak >= want {
				return nil
			}
		} else {
			streak, last = 0, err
		}
		pause := 20 * time.Millisecond
		if err != nil {
			pause = 200 * time.Millisecond
		}
		select {
		case <-ctx.Done():
			if last == nil {
				last = ctx.Err()
			}
			return fmt.Errorf("target %s %s did not answer %d requests in a row with 2xx/3xx within %s (last error: %v)", method, url, want, timeout, last)
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
