package sse_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/ssekit/sse"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// Token requests under the SDK's credential policy: the client secret
// never follows a redirect to another origin, and goes over plain http
// only to loopback.
func ExampleCredentialClient() {
	// A token endpoint (on loopback, so plain http is fine) and a stream.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/token":
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"access_token":"at-1","token_type":"bearer","expires_in":3600}`)
		case "/events":
			if r.Header.Get("Authorization") != "Bearer at-1" {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprint(w, "data: hello\n\n")
		}
	}))
	defer srv.Close()

	cfg := &clientcredentials.Config{ClientID: "app", ClientSecret: "s3cret", TokenURL: srv.URL + "/token"}
	tctx := context.WithValue(context.Background(), oauth2.HTTPClient, sse.CredentialClient(nil, false))
	// A new token on every call, so that a 401 gets a fresh one.
	fresh := tokenFunc(func() (*oauth2.Token, error) { return cfg.Token(tctx) })

	c := &sse.Client{Auth: sse.Bearer(fresh)}
	st, err := c.Connect(context.Background(), srv.URL+"/events")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer st.Close()
	fmt.Println((<-st.Events()).Data)

	// The same token endpoint under a name that is not loopback is
	// refused before any I/O.
	cfg.TokenURL = "http://auth.example.com/token"
	_, err = cfg.Token(tctx)
	fmt.Println(err != nil)
	// Output:
	// hello
	// true
}

// tokenFunc adapts a function to oauth2.TokenSource.
type tokenFunc func() (*oauth2.Token, error)

func (f tokenFunc) Token() (*oauth2.Token, error) { return f() }
