package sse

// This file holds the test origins shared by the security and
// credential-policy tests: a self-signed certificate for a.test, b.test
// and the loopback addresses, an HTTP client that trusts it and dials
// those names locally, origins that record every request, and a handler
// that serves one event.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var (
	testCertOnce sync.Once
	testCert     tls.Certificate
	testCertPool *x509.CertPool
)

// selfSignedTLS returns a self-signed certificate for a.test, b.test,
// localhost and the loopback addresses, and a pool that trusts it.
func selfSignedTLS(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	testCertOnce.Do(func() {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber:          big.NewInt(1),
			Subject:               pkix.Name{CommonName: "sse test"},
			DNSNames:              []string{"a.test", "b.test", "localhost"},
			IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
			NotBefore:             time.Now().Add(-time.Hour),
			NotAfter:              time.Now().Add(24 * time.Hour),
			KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
			ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			IsCA:                  true,
			BasicConstraintsValid: true,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			panic(err)
		}
		leaf, err := x509.ParseCertificate(der)
		if err != nil {
			panic(err)
		}
		testCert = tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
		testCertPool = x509.NewCertPool()
		testCertPool.AddCert(leaf)
	})
	return testCert, testCertPool
}

// trustingHTTPClient returns a client that trusts selfSignedTLS's
// certificate and dials the names a.test and b.test to 127.0.0.1 on the
// port asked for.
func trustingHTTPClient(t *testing.T) *http.Client {
	t.Helper()
	_, pool := selfSignedTLS(t)
	var d net.Dialer
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool},
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, port, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			if host == "a.test" || host == "b.test" {
				addr = net.JoinHostPort("127.0.0.1", port)
			}
			return d.DialContext(ctx, network, addr)
		},
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// seenRequest is one request a testOrigin received.
type seenRequest struct {
	URL    string // as sent: path and raw query
	Host   string
	Header http.Header
}

// testOrigin is a test server that records every request and hands it to a
// swappable handler.
type testOrigin struct {
	srv    *httptest.Server
	scheme string
	port   string

	mu      sync.Mutex
	seen    []seenRequest
	handler http.HandlerFunc
}

func newTestOrigin(t *testing.T, useTLS bool) *testOrigin {
	t.Helper()
	o := &testOrigin{}
	o.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.mu.Lock()
		o.seen = append(o.seen, seenRequest{URL: r.URL.RequestURI(), Host: r.Host, Header: r.Header.Clone()})
		h := o.handler
		o.mu.Unlock()
		if h == nil {
			http.NotFound(w, r)
			return
		}
		h(w, r)
	}))
	o.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected
	if useTLS {
		cert, _ := selfSignedTLS(t)
		o.srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
		o.srv.StartTLS()
		o.scheme = "https"
	} else {
		o.srv.Start()
		o.scheme = "http"
	}
	_, o.port, _ = net.SplitHostPort(o.srv.Listener.Addr().String())
	t.Cleanup(o.srv.Close)
	return o
}

// URL returns the origin's URL under the host name host.
func (o *testOrigin) URL(host, pathQuery string) string {
	return o.scheme + "://" + net.JoinHostPort(host, o.port) + pathQuery
}

// serve sets the handler and forgets what was seen so far.
func (o *testOrigin) serve(h http.HandlerFunc) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.handler, o.seen = h, nil
}

func (o *testOrigin) requests() []seenRequest {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]seenRequest(nil), o.seen...)
}

// serveOneEvent answers with one event and holds the stream open until
// the client goes.
func serveOneEvent(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/event-stream")
	fmt.Fprint(w, "id: 1\ndata: ok\n\n")
	http.NewResponseController(w).Flush()
	<-r.Context().Done()
}

// openOne connects through fc, reads one event and closes.
func openOne(t *testing.T, fc face, c *Client, u string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := connectVia(fc, c, ctx, u)
	require.NoError(t, err, "Connect: %v", err)
	defer st.Close()
	select {
	case ev := <-st.Events():
		require.Equal(t, "ok", ev.Data, "event %+v", ev)
	case <-ctx.Done():
		require.Fail(t, "no event")
	}
}
