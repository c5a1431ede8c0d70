package opsdk

import (
	"context"
	"fmt"
	"io"
	"os"

	onepassword "github.com/1password/onepassword-sdk-go"
	"github.com/nono-sandbox/nono/credentials"
)

// integrationName identifies nono to 1Password.
const integrationName = "nono"

// New returns a resolver backed by a 1Password SDK client authenticated with
// the service account token; version is reported as the integration's.
func New(ctx context.Context, token, version string) (credentials.OPSecretResolver, error) {
	c, err := onepassword.NewClient(ctx,
		onepassword.WithServiceAccountToken(token),
		onepassword.WithIntegrationInfo(integrationName, version))
	if err != nil {
		return nil, fmt.Errorf("create the 1Password SDK client: %w", err)
	}
	return c.Secrets(), nil
}

// Serve runs nono-op: it reads the token from OP_SERVICE_ACCOUNT_TOKEN,
// creates the SDK client once and answers nono's requests read from in on
// out until in reaches EOF.
func Serve(ctx context.Context, in io.Reader, out io.Writer, version string) error {
	token := os.Getenv(credentials.OPServiceAccountTokenVar)
	return credentials.ServeOPHelper(ctx, in, out, token,
		func(ctx context.Context, token string) (credentials.OPSecretResolver, error) {
			return New(ctx, token, version)
		})
}
