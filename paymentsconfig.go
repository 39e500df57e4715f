package main

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/coffeemesh/orders/auth"
	"github.com/coffeemesh/orders/auth/clientauth"
	"github.com/coffeemesh/orders/payments"
)

// paymentSettings are the settings of the payments service and of the
// API's own client at the issuer, which loadConfig checks together
// (paymentSettings.load).
type paymentSettings struct {
	url, audience, scope, mode               string
	timeout                                  time.Duration
	clientID, clientSecret, clientSecretFile string
	clientKeyFile, clientKeyID               string
	// devAddr, with --dev, is the loopback address of the payments
	// stand-in that serve runs and pays through.
	devAddr string
	// config is what load made of them; nil when ORDERS_PAYMENTS_URL is
	// unset, and pay only marks the order paid. Its TokenEndpoint is set
	// by serve, from the issuer's discovery.
	config *payments.Config
}

// paymentSettingsDecl are the settings of paying through a payments
// service.
func paymentSettingsDecl() []setting {
	field := func(f func(p *paymentSettings) *string) func(*values, string) error {
		return text(func(v *values) *string { return f(&v.cfg.payments) })
	}
	return []setting{
		{env: "ORDERS_PAYMENTS_URL", flag: "payments-url", doc: "base URL of the payments service that pay calls (POST URL/payments); unset: pay only marks the order paid",
			key: "payments.url", file: func(f *fileConfig) string { return f.Payments.URL },
			apply: field(func(p *paymentSettings) *string { return &p.url })},
		{env: "ORDERS_PAYMENTS_AUDIENCE", flag: "payments-audience", doc: "audience of the tokens the payments service accepts, asked of the issuer; required with ORDERS_PAYMENTS_URL",
			key: "payments.audience", file: func(f *fileConfig) string { return f.Payments.Audience },
			apply: field(func(p *paymentSettings) *string { return &p.audience })},
		{env: "ORDERS_PAYMENTS_SCOPE", flag: "payments-scope", doc: "space-separated scopes asked of the issuer for the payments service; default: none asked",
			key: "payments.scope", file: func(f *fileConfig) string { return f.Payments.Scope },
			apply: field(func(p *paymentSettings) *string { return &p.scope })},
		{env: "ORDERS_PAYMENTS_TIMEOUT", flag: "payments-timeout", def: payments.DefaultTimeout.String(), doc: "longest a pay waits for the issuer and the payments service together before it answers 504, at most 25s",
			key: "payments.timeout", file: func(f *fileConfig) string { return f.Payments.Timeout },
			apply: duration(func(v *values) *time.Duration { return &v.cfg.payments.timeout }, time.Nanosecond, maxPaymentsTimeout, "5s")},
		{env: "ORDERS_PAYMENTS_TOKEN", flag: "payments-token", def: string(payments.Exchange), doc: "how the API gets its token for the payments service: exchange (the caller's token, RFC 8693) or client_credentials (the API's own, with the caller's issuer and subject in the body)",
			key: "payments.token", file: func(f *fileConfig) string { return f.Payments.Token },
			apply: oneOf(func(v *values) *string { return &v.cfg.payments.mode }, string(payments.Exchange), string(payments.ClientCredentials))},
		{env: "ORDERS_CLIENT_ID", flag: "client-id", doc: "the API's own client id at the issuer, for the token of the payments service",
			key: "client.id", file: func(f *fileConfig) string { return f.Client.ID },
			apply: field(func(p *paymentSettings) *string { return &p.clientID })},
		{env: "ORDERS_CLIENT_SECRET", flag: "client-secret", secret: true, doc: "the API's client secret, sent with HTTP Basic (client_secret_basic)",
			key: "client.secret", file: func(f *fileConfig) string { return f.Client.Secret },
			apply: field(func(p *paymentSettings) *string { return &p.clientSecret })},
		{env: "ORDERS_CLIENT_SECRET_FILE", flag: "client-secret-file", doc: "file holding ORDERS_CLIENT_SECRET, instead of it",
			key: "client.secret_file", file: func(f *fileConfig) string { return f.Client.SecretFile },
			apply: field(func(p *paymentSettings) *string { return &p.clientSecretFile })},
		{env: "ORDERS_CLIENT_KEY_FILE", flag: "client-key-file", doc: "PEM private key (RSA, EC or Ed25519) that signs the API's client assertions (private_key_jwt), instead of a secret",
			key: "client.key_file", file: func(f *fileConfig) string { return f.Client.KeyFile },
			apply: field(func(p *paymentSettings) *string { return &p.clientKeyFile })},
		{env: "ORDERS_CLIENT_KEY_ID", flag: "client-key-id", doc: "kid of ORDERS_CLIENT_KEY_FILE's key, if the issuer wants one",
			key: "client.key_id", file: func(f *fileConfig) string { return f.Client.KeyID },
			apply: field(func(p *paymentSettings) *string { return &p.clientKeyID })},
		{env: "ORDERS_DEV_PAYMENTS_ADDR", flag: "dev-payments-addr", doc: "with --dev: loopback host:port of a payments stand-in that serve runs and pays through, with tokens exchanged at the dev issuer; off by default",
			key: "dev_payments_addr", file: func(f *fileConfig) string { return f.DevPaymentsAddr },
			apply: hostPort(func(v *values) *string { return &v.cfg.payments.devAddr }, true)},
	}
}

// maxPaymentsTimeout keeps a pay's wait well inside the server's write
// timeout, so that its 504 is still sent.
const maxPaymentsTimeout = 25 * time.Second

// The payments stand-in of --dev: its audience and scope, and the client
// id and secret the API exchanges tokens with, unless the settings name
// others. The dev issuer's exchange policy allows that client, with that
// secret, that audience and those scopes, and nothing else.
const (
	devPaymentsAudience = "payments"
	devPaymentsScope    = "payments:charge"
	devClientID         = "orders-api"
	devClientSecret     = "dev"
)

// load checks the payment settings together and builds config; with dev
// and devAddr, it defaults them to the stand-in's.
func (p *paymentSettings) load(dev bool) []error {
	if p.devAddr != "" {
		switch {
		case !dev:
			return []error{errors.New("ORDERS_DEV_PAYMENTS_ADDR needs --dev")}
		case p.url != "":
			return []error{errors.New("ORDERS_DEV_PAYMENTS_ADDR runs its own payments service: unset ORDERS_PAYMENTS_URL")}
		}
		p.url = "http://" + p.devAddr
		p.audience = cmp.Or(p.audience, devPaymentsAudience)
		p.scope = cmp.Or(p.scope, devPaymentsScope)
		p.clientID = cmp.Or(p.clientID, devClientID)
		if p.clientSecretFile == "" && p.clientKeyFile == "" {
			p.clientSecret = cmp.Or(p.clientSecret, devClientSecret)
		}
	}
	if p.url == "" {
		// A setting that only paying reads, set without it, is a mistake
		// to report rather than a value to ignore, a secret included.
		given := p.audience + p.scope + p.clientID + p.clientSecret + p.clientSecretFile + p.clientKeyFile + p.clientKeyID
		if given != "" || p.mode == string(payments.ClientCredentials) {
			return []error{errors.New("ORDERS_PAYMENTS_AUDIENCE, ORDERS_PAYMENTS_SCOPE, ORDERS_PAYMENTS_TOKEN=client_credentials and the ORDERS_CLIENT_* settings need ORDERS_PAYMENTS_URL")}
		}
		return nil
	}
	var errs []error
	if err := auth.CheckURL(p.url); err != nil {
		errs = append(errs, fmt.Errorf("ORDERS_PAYMENTS_URL: %w", err))
	}
	if p.audience == "" {
		errs = append(errs, errors.New("ORDERS_PAYMENTS_AUDIENCE is required with ORDERS_PAYMENTS_URL"))
	}
	if p.clientID == "" {
		errs = append(errs, errors.New("ORDERS_CLIENT_ID is required with ORDERS_PAYMENTS_URL: the API authenticates at the issuer as its own client"))
	}
	client, err := p.client()
	if err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return errs
	}
	p.config = &payments.Config{URL: p.url, Audience: p.audience, Scope: p.scope, Timeout: p.timeout,
		Mode: payments.Mode(p.mode), Client: client}
	return nil
}

// client reads the API's client credentials: exactly one of a secret, a
// secret file or a key file.
func (p *paymentSettings) client() (clientauth.Credentials, error) {
	given := 0
	for _, s := range []string{p.clientSecret, p.clientSecretFile, p.clientKeyFile} {
		if s != "" {
			given++
		}
	}
	if given != 1 {
		return clientauth.Credentials{}, errors.New("ORDERS_PAYMENTS_URL needs exactly one of ORDERS_CLIENT_SECRET, ORDERS_CLIENT_SECRET_FILE and ORDERS_CLIENT_KEY_FILE")
	}
	a := clientauth.Credentials{ID: p.clientID, Secret: p.clientSecret}
	switch {
	case p.clientSecretFile != "":
		b, err := os.ReadFile(p.clientSecretFile)
		if err != nil {
			return a, fmt.Errorf("ORDERS_CLIENT_SECRET_FILE: %w", err)
		}
		if a.Secret = strings.TrimSpace(string(b)); a.Secret == "" {
			return a, fmt.Errorf("ORDERS_CLIENT_SECRET_FILE %s is empty", p.clientSecretFile)
		}
	case p.clientKeyFile != "":
		b, err := os.ReadFile(p.clientKeyFile)
		if err == nil {
			a.Key, err = clientauth.ParseKey(b, p.clientKeyID)
		}
		if err != nil {
			return a, fmt.Errorf("ORDERS_CLIENT_KEY_FILE %s: %w", p.clientKeyFile, err)
		}
	}
	return a, nil
}
