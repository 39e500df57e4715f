package tests

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"golang.org/x/oauth2/clientcredentials"
)

// Example_client is a service calling the API: it gets an access token from
// the issuer with the OAuth 2.0 client credentials grant (here the issuer of
// serve --dev; in production your IdP's token endpoint and a client secret),
// then calls the API with it. golang.org/x/oauth2 fetches the token, sends it
// as a bearer token and fetches a new one when it expires.
func Example_client() {
	apiURL, tokenURL, stop := startDevServer()
	defer stop()

	cfg := clientcredentials.Config{
		ClientID: "alice",
		TokenURL: tokenURL,
		Scopes:   []string{"orders:read", "orders:write"},
	}
	client := cfg.Client(context.Background())

	resp, err := client.Post(apiURL+"/orders", "application/json",
		strings.NewReader(`{"order": [{"product": "cappuccino", "size": "big", "quantity": 2}]}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	var created struct {
		Status string `json:"status"`
		Order  []struct {
			Product  string `json:"product"`
			Quantity int    `json:"quantity"`
		} `json:"order"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&created) // shown below either way
	resp.Body.Close()
	fmt.Println(resp.Status, created.Status, created.Order[0].Quantity, created.Order[0].Product)

	resp, err = client.Get(apiURL + "/orders")
	if err != nil {
		fmt.Println(err)
		return
	}
	var list struct {
		Orders []json.RawMessage `json:"orders"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&list) // shown below either way
	resp.Body.Close()
	fmt.Println(resp.Status, len(list.Orders), "order")

	resp, err = http.Get(apiURL + "/orders")
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	fmt.Println("without a token:", resp.Status)
	// Output:
	// 201 Created created 2 cappuccino
	// 200 OK 1 order
	// without a token: 401 Unauthorized
}

// startDevServer runs `orders serve --dev` on free loopback ports, as the
// README's first command does, and returns the API's URL and the dev
// issuer's token endpoint.
func startDevServer() (apiURL, tokenURL string, stop func()) {
	dir, err := os.MkdirTemp("", "orders-example-")
	if err != nil {
		panic(err)
	}
	binary, err := buildOrders()
	if err != nil {
		panic(err)
	}
	cmd := exec.Command(binary, "serve", "--dev")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "ORDERS_ADDR=127.0.0.1:0", "ORDERS_DEV_ISSUER_ADDR=127.0.0.1:0",
		"ORDERS_DATABASE_URL=sqlite:" + filepath.Join(dir, "orders.db")}
	out, err := cmd.StdoutPipe()
	if err != nil {
		panic(err)
	}
	if err := cmd.Start(); err != nil {
		panic(err)
	}
	lines := bufio.NewScanner(out)
	for apiURL == "" && lines.Scan() {
		var line map[string]any
		if json.Unmarshal(lines.Bytes(), &line) != nil {
			continue
		}
		if u, ok := line["token_endpoint"].(string); ok {
			tokenURL = u
		}
		if line["msg"] == "listening" {
			apiURL = "http://" + line["addr"].(string)
		}
	}
	go func() { _, _ = io.Copy(io.Discard, out) }() // keep the server's log flowing
	return apiURL, tokenURL, func() {
		_ = cmd.Process.Kill() // the example is over
		_ = cmd.Wait()
		os.RemoveAll(dir)
	}
}
