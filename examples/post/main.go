// Command post consumes a streaming API the way LLM chat APIs are
// consumed: it POSTs a JSON request with an API key and prints the answer
// as it streams in, one JSON chunk per event, until the "[DONE]" event.
//
//	SSE_API_KEY=... go run ./examples/post -url https://llm.example.com/v1/chat/completions \
//		-model small -prompt "Why is the sky blue?"
//
// The request is a finite stream: it ends when the server ends it, and it
// is sent again, with the same body, only where the server certainly did
// not act on it (a 503 or 429 before the stream opens, say).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/ssekit/sse"
)

var (
	apiURL = flag.String("url", os.Getenv("SSE_URL"), "streaming API `URL` (env SSE_URL); the API key is read from SSE_API_KEY")
	model  = flag.String("model", "small", "model `name`")
	prompt = flag.String("prompt", "Say hello.", "the user's `message`")
)

// stdout receives the answer; tests replace it.
var stdout io.Writer = os.Stdout

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "post:", err)
		os.Exit(1)
	}
}

// request is the body of a chat-completion request.
type request struct {
	Model    string    `json:"model"`
	Messages []message `json:"messages"`
	Stream   bool      `json:"stream"`
}

type message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// chunk is one streamed piece of the answer.
type chunk struct {
	Choices []struct {
		Delta struct {
			Content string `json:"content"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
}

func run() error {
	if *apiURL == "" {
		return errors.New("-url is required")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	body, err := json.Marshal(request{
		Model:    *model,
		Messages: []message{{Role: "user", Content: *prompt}},
		Stream:   true,
	})
	if err != nil {
		return err
	}
	// http.NewRequest sets GetBody for a *bytes.Reader, so each attempt
	// re-sends the same body.
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, *apiURL, bytes.NewReader(body))
	if err != nil {
		return errors.New("bad -url")
	}
	req.Header.Set("Content-Type", "application/json")

	c := &sse.Client{
		// The API key travels as a fixed header, marked as a credential:
		// it never follows a redirect to another origin.
		Auth: sse.StaticHeaders(http.Header{"Authorization": {"Bearer " + os.Getenv("SSE_API_KEY")}}),
		// A POST is a finite stream: it ends when the server ends it and
		// is never sent twice once the server may have acted on it (a 503
		// or 429 before the stream opens is retried). MaxRetries bounds
		// those retries.
		MaxRetries: 3,
	}
	// Events pulls the answer in this goroutine; the loop ends when the
	// server ends the stream, with or without a [DONE] event.
	for ev, err := range c.Events(req) {
		if err != nil {
			if ctx.Err() != nil {
				return nil // interrupted
			}
			return explain(err)
		}
		if ev.Data == "[DONE]" {
			break
		}
		var ch chunk
		if err := json.Unmarshal([]byte(ev.Data), &ch); err != nil {
			return fmt.Errorf("a chunk is not JSON: %w", err)
		}
		for _, c := range ch.Choices {
			fmt.Fprint(stdout, c.Delta.Content)
		}
	}
	fmt.Fprintln(stdout)
	return nil
}

// explain adds the API's own error message, which LLM APIs send as JSON in
// the body of a refused request, to err. The SDK keeps that body out of
// err's text (a server may echo credentials there): showing it is this
// program's choice, for a message the API wrote for its users.
func explain(err error) error {
	var st *sse.StatusError
	if !errors.As(err, &st) || len(st.Body) == 0 {
		return err
	}
	var body struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(st.Body, &body) != nil || body.Error.Message == "" {
		return err
	}
	return fmt.Errorf("%w: %s", err, body.Error.Message)
}
