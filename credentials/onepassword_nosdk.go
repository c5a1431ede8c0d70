//go:build no1psdk

package credentials

import (
	"context"
	"errors"
)

// newOPSDK in a build without the 1Password SDK (-tags no1psdk): op:// refs
// then go through the op CLI only.
func newOPSDK(context.Context, string) (OPSecretResolver, error) {
	return nil, errors.New("this nono was built without the 1Password SDK (-tags no1psdk); unset OP_SERVICE_ACCOUNT_TOKEN to use the op CLI")
}
