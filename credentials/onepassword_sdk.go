//go:build !no1psdk

package credentials

import (
	"context"

	onepassword "github.com/1password/onepassword-sdk-go"
)

func newOPSDK(ctx context.Context, token string) (OPSecretResolver, error) {
	c, err := onepassword.NewClient(ctx,
		onepassword.WithServiceAccountToken(token),
		onepassword.WithIntegrationInfo("nono", "dev"))
	if err != nil {
		return nil, err
	}
	return c.Secrets(), nil
}
