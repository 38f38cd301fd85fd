package main

// This file holds the credentials from the flags: the bearer token, the
// OAuth2 client-credentials grant, the cookie file and the ticket endpoint,
// assembled into one sse.AuthSource.

import (
	"bufio"
	"context"
	"errors"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ssekit/sse"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// authSource assembles the credentials from the flags: nil when there are
// none.
func authSource(ctx context.Context, o *options) (sse.AuthSource, error) {
	var sources []sse.AuthSource
	switch {
	case o.token != "":
		sources = append(sources, sse.Bearer(&staticToken{token: o.token}))
	case o.tokenURL != "":
		cc := &clientcredentials.Config{
			ClientID:     o.clientID,
			ClientSecret: o.clientSecret,
			TokenURL:     o.tokenURL,
			Scopes:       o.scopes,
		}
		// The token request goes under the SDK's credential policy: no
		// credential follows a redirect to another origin, and plain
		// http only to loopback unless -allow-plain-http.
		tctx := context.WithValue(ctx, oauth2.HTTPClient, sse.CredentialClient(&http.Client{Timeout: 30 * time.Second}, o.allowHTTP))
		// A new token on every call: after a 401, Bearer must not get
		// the refused token back from a cache.
		sources = append(sources, sse.Bearer(tokenSourceFunc(func() (*oauth2.Token, error) { return cc.Token(tctx) })))
	}
	if o.cookies != "" {
		jar, err := loadCookies(o.cookies)
		if err != nil {
			return nil, err
		}
		sources = append(sources, sse.SessionCookies(jar, nil))
	}
	var creds sse.AuthSource
	switch len(sources) {
	case 0:
	case 1:
		creds = sources[0]
	default:
		creds = sse.Combine(sources...)
	}
	if o.ticketURL != "" {
		return &sse.TicketSource{URL: o.ticketURL, Auth: creds, AllowPlainHTTP: o.allowHTTP}, nil
	}
	return creds, nil
}

// staticToken hands out the -token or SSE_TOKEN token once; asked again,
// which Bearer does only after the server refused it, it says that a fixed
// token cannot be refreshed.
type staticToken struct {
	mu    sync.Mutex
	token string
	given bool
}

func (s *staticToken) Token() (*oauth2.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.given {
		return nil, &sse.PermanentError{Err: errors.New("the server no longer accepts the bearer token (-token or SSE_TOKEN), and a fixed token cannot be refreshed; get a new one")}
	}
	s.given = true
	return &oauth2.Token{AccessToken: s.token}, nil
}

// tokenSourceFunc adapts a function to oauth2.TokenSource.
type tokenSourceFunc func() (*oauth2.Token, error)

func (f tokenSourceFunc) Token() (*oauth2.Token, error) { return f() }

// loadCookies reads a Netscape cookie file (the format of curl -c) into a
// jar. Expired cookies are left out.
func loadCookies(path string) (http.CookieJar, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, usagef("-cookies: %v", errors.Unwrap(err))
	}
	defer f.Close()
	jar, err := cookiejar.New(nil)
	if err != nil {
		return nil, err
	}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), "\r")
		httpOnly := false
		if rest, ok := strings.CutPrefix(line, "#HttpOnly_"); ok {
			line, httpOnly = rest, true
		}
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		// Never quote the line: it holds the cookie's value.
		fields := strings.Split(line, "\t")
		if len(fields) != 7 {
			return nil, usagef("-cookies: line %d is not a Netscape cookie line (7 tab-separated fields)", n)
		}
		domain, sub, path, secure, expires, name, value := fields[0], fields[1], fields[2], fields[3], fields[4], fields[5], fields[6]
		exp, err := strconv.ParseInt(expires, 10, 64)
		if err != nil || domain == "" || name == "" {
			return nil, usagef("-cookies: line %d is not a Netscape cookie line", n)
		}
		ck := &http.Cookie{Name: name, Value: value, Path: path, Secure: strings.EqualFold(secure, "TRUE"), HttpOnly: httpOnly}
		if exp != 0 {
			ck.Expires = time.Unix(exp, 0)
			if ck.Expires.Before(time.Now()) {
				continue
			}
		}
		host := strings.TrimPrefix(domain, ".")
		if strings.EqualFold(sub, "TRUE") {
			ck.Domain = host // a domain cookie; without Domain it is host-only
		}
		scheme := "http"
		if ck.Secure {
			scheme = "https"
		}
		jar.SetCookies(&url.URL{Scheme: scheme, Host: host, Path: "/"}, []*http.Cookie{ck})
	}
	if err := sc.Err(); err != nil {
		return nil, usagef("-cookies: %v", err)
	}
	return jar, nil
}
