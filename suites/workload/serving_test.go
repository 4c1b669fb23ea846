package workload

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestWaitServing(t *testing.T) {
	tests := []struct {
		name    string
		handler func(n int64) (status int, delay time.Duration)
		timeout time.Duration
		wantErr string
	}{
		{
			name:    "healthy",
			handler: func(int64) (int, time.Duration) { return http.StatusOK, 0 },
		},
		{
			// slower than a second and faster than the load's timeout: what
			// the load counts as a success counts here too
			name:    "slow but within the request timeout",
			handler: func(int64) (int, time.Duration) { return http.StatusOK, 300 * time.Millisecond },
		},
		{
			name: "failing at first, then steady",
			handler: func(n int64) (int, time.Duration) {
				if n <= 15 {
					return http.StatusServiceUnavailable, 0
				}
				return http.StatusNoContent, 0
			},
		},
		{
			name:    "a redirect is an answer",
			handler: func(int64) (int, time.Duration) { return http.StatusFound, 0 },
		},
		{
			name: "one failure in every 20 never makes a streak of 30",
			handler: func(n int64) (int, time.Duration) {
				if n%20 == 0 {
					return http.StatusInternalServerError, 0
				}
				return http.StatusOK, 0
			},
			// the error names the 500, not the deadline that cut the last
			// requests short (a busy machine once saw that)
			timeout: 700 * time.Millisecond,
			wantErr: "status 500",
		},
		{
			name:    "slower than the request timeout",
			handler: func(int64) (int, time.Duration) { return http.StatusOK, 400 * time.Millisecond },
			timeout: 600 * time.Millisecond,
			wantErr: "did not answer 30 requests in a row",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var count atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodPost {
					t.Errorf("method %s, want the load's POST", r.Method)
				}
				status, delay := tt.handler(count.Add(1))
				time.Sleep(delay)
				if status == http.StatusFound {
					w.Header().Set("Location", "/elsewhere")
				}
				w.WriteHeader(status)
			}))
			defer srv.Close()
			timeout := tt.timeout
			if timeout == 0 {
				timeout = 10 * time.Second
			}
			reqTimeout := 350 * time.Millisecond
			if strings.HasPrefix(tt.name, "slow but") {
				reqTimeout = 2 * time.Second
			}
			err := WaitServing(context.Background(), ServingProbe{Method: http.MethodPost, URL: srv.URL, RequestTimeout: reqTimeout}, 30, timeout)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("WaitServing: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("WaitServing error %v, want one containing %q", err, tt.wantErr)
			}
			if tt.wantErr == "" && count.Load() < 30 {
				t.Errorf("%d requests, want at least 30", count.Load())
			}
		})
	}
}

func TestServesValues(t *testing.T) {
	var count atomic.Int64
	// every third answer comes from a pod that still has the old value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if count.Add(1)%3 == 0 {
			_, _ = w.Write([]byte(`{"greeting":"hello"}`))
			return
		}
		_, _ = w.Write([]byte(`{"greeting":"hi","release":"r1"}`))
	}))
	defer srv.Close()
	p := ServingProbe{Method: http.MethodGet, URL: srv.URL + "/config", RequestTimeout: time.Second}
	err := ServesValues(context.Background(), p, []string{"hi", "r1"}, 9)
	if err == nil || !strings.Contains(err.Error(), "3 lacked the new values") || !strings.Contains(err.Error(), "lacks \"hi\"") {
		t.Errorf("ServesValues with a third of old answers = %v", err)
	}
	if err := ServesValues(context.Background(), p, []string{"greeting"}, 9); err != nil {
		t.Errorf("ServesValues of a value every pod serves: %v", err)
	}
	down := ServingProbe{Method: http.MethodGet, URL: "http://127.0.0.1:1/config", RequestTimeout: time.Second}
	if err := ServesValues(context.Background(), down, []string{"x"}, 2); err == nil || !strings.Contains(err.Error(), "2 of 2 answers") {
		t.Errorf("ServesValues of a target that does not answer = %v", err)
	}
}

func TestContainsValue(t *testing.T) {
	for _, tt := range []struct {
		body, v string
		want    bool
	}{
		{`{"greeting":"hi"}`, "hi", true},
		{`{"greeting":"a \u003cb\u003e \u0026 c"}`, "a <b> & c", true},
		{`{"q":"say \"hi\""}`, `say "hi"`, true},
		{`{"greeting":"hello"}`, "hi there", false},
		{`greeting=hi`, "hi", true},
	} {
		if got := containsValue(tt.body, tt.v); got != tt.want {
			t.Errorf("containsValue(%q, %q) = %v, want %v", tt.body, tt.v, got, tt.want)
		}
	}
}
