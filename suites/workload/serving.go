package workload

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
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

// minStreak is the shortest span of a streak of successes.
const minStreak = time.Second

// WaitServing waits until the exposed target answers want requests in a
// row with success, each on a new connection, the way the load will ask
// (same method, same URL, same timeout) and judged the way the load judges
// (2xx or 3xx). Right after a rollout, kube-proxy may still route some
// connections to pods that are gone; load started then would blame the
// workload for the cluster's catching up. Requests go out in batches; one
// failure in a batch starts the streak again, and a streak must also last
// minStreak, so that a fast target is asked over a span in which kube-proxy
// could still be catching up, not in one burst.
func WaitServing(ctx context.Context, p ServingProbe, want int, timeout time.Duration) error {
	client := p.client()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	streak := 0
	var since time.Time
	var last error
	for {
		if streak == 0 {
			since = time.Now()
		}
		n := min(servingBatch, max(want-streak, 1))
		_, errs := p.fetchAll(ctx, client, n)
		failed := false
		for _, err := range errs {
			if err == nil {
				continue
			}
			failed = true
			// a request cut short by the wait's own deadline says nothing
			// about the target: the last real failure is the one to report
			if last == nil || ctx.Err() == nil {
				last = err
			}
		}
		pause := 100 * time.Millisecond
		if failed {
			streak, pause = 0, 200*time.Millisecond
		} else if streak += n; streak >= want && time.Since(since) >= minStreak {
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

// client asks as the load does: a new connection per request, no proxy,
// the load's timeout, and no redirect followed (a 3xx is an answer).
func (p ServingProbe) client() *http.Client {
	return &http.Client{
		Timeout:       p.RequestTimeout,
		Transport:     &http.Transport{DisableKeepAlives: true, Proxy: nil},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// fetchAll asks n times at once and returns each answer's body or error.
func (p ServingProbe) fetchAll(ctx context.Context, client *http.Client, n int) ([]string, []error) {
	bodies, errs := make([]string, n), make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			bodies[i], errs[i] = fetch(ctx, client, p.Method, p.URL)
		}()
	}
	wg.Wait()
	return bodies, errs
}

// fetch asks once and returns the answer's body (its first 64 KiB).
func fetch(ctx context.Context, client *http.Client, method, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return "", fmt.Errorf("status %d", resp.StatusCode)
	}
	if err != nil {
		return "", err
	}
	return string(body), nil
}

// ServesValues asks n times at once, each on a new connection (so
// kube-proxy spreads them over the pods), and returns nil when every answer
// succeeded and its body contains every value: the pods behind the Service
// all serve them.
func ServesValues(ctx context.Context, p ServingProbe, values []string, n int) error {
	bodies, errs := p.fetchAll(ctx, p.client(), n)
	lacking, failed := 0, 0
	var example string
	for i := range n {
		if errs[i] != nil {
			failed++
			example = errs[i].Error()
			continue
		}
		for _, v := range values {
			if !containsValue(bodies[i], v) {
				lacking++
				example = fmt.Sprintf("%q lacks %q", truncate(bodies[i], 200), v)
				break
			}
		}
	}
	if lacking+failed == 0 {
		return nil
	}
	return fmt.Errorf("%d of %d answers of %s %s failed and %d lacked the new values (%s)", failed, n, p.Method, p.URL, lacking, example)
}

// containsValue reports whether body holds v as written or as JSON writes
// it (Go's encoder escapes <, > and &, quotes and backslashes).
func containsValue(body, v string) bool {
	if strings.Contains(body, v) {
		return true
	}
	js, err := json.Marshal(v)
	return err == nil && strings.Contains(body, string(js[1:len(js)-1]))
}

func truncate(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
