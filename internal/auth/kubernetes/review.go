package kubernetes

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"

	"github.com/coffer-secrets/coffer/internal/logical"
)

// tokenReviewPath is the TokenReview API's path on the API server.
const tokenReviewPath = "/apis/authentication.k8s.io/v1/tokenreviews"

// maxReviewBytes bounds a TokenReview response.
const maxReviewBytes = 1 << 20

// tokenReview is the TokenReview object, as sent and as answered.
type tokenReview struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Spec       tokenReviewSpec   `json:"spec"`
	Status     tokenReviewStatus `json:"status,omitzero"`
}

type tokenReviewSpec struct {
	Token     string   `json:"token"`
	Audiences []string `json:"audiences,omitempty"`
}

type tokenReviewStatus struct {
	Authenticated bool     `json:"authenticated"`
	User          userInfo `json:"user"`
	Audiences     []string `json:"audiences"`
	Error         string   `json:"error"`
}

type userInfo struct {
	Username string `json:"username"`
	UID      string `json:"uid"`
}

// review asks the cluster at host whether jwt is valid (for audience, when
// set), authenticating with bearer, and checks that the answer names the
// service account sa. It returns the service account's UID as the cluster
// reports it ("" when it does not).
//
// A refused or unauthenticated token, and a 401 or 403 from the API
// server, are [logical.ErrPermissionDenied] errors; an unreachable or
// failing API server is [logical.ErrUpstream]. No error holds jwt or
// bearer.
func review(ctx context.Context, client *http.Client, host, bearer, jwt, audience string, sa *serviceAccount) (string, error) {
	tr := tokenReview{
		APIVersion: "authentication.k8s.io/v1",
		Kind:       "TokenReview",
		Spec:       tokenReviewSpec{Token: jwt},
	}
	if audience != "" {
		tr.Spec.Audiences = []string{audience}
	}
	body, err := json.Marshal(&tr)
	if err != nil {
		return "", fmt.Errorf("encode token review: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, reviewTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, host+tokenReviewPath, bytes.NewReader(body))
	if err != nil {
		return "", fmt.Errorf("build token review request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+bearer)
	resp, err := client.Do(req)
	if err != nil {
		return "", &logical.Error{Kind: logical.ErrUpstream, Msg: "the Kubernetes TokenReview API could not be reached", Err: err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxReviewBytes+1))
	if err != nil {
		return "", &logical.Error{Kind: logical.ErrUpstream, Msg: "the Kubernetes TokenReview API's answer could not be read", Err: err}
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return "", &logical.Error{
			Kind: logical.ErrPermissionDenied,
			Msg:  fmt.Sprintf("permission denied: the Kubernetes API refused the token review (HTTP %d): the reviewer needs a valid token allowed to create tokenreviews (system:auth-delegator)", resp.StatusCode),
		}
	case resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated:
		return "", &logical.Error{Kind: logical.ErrUpstream, Msg: fmt.Sprintf("the Kubernetes TokenReview API answered HTTP %d", resp.StatusCode)}
	case len(data) > maxReviewBytes:
		return "", &logical.Error{Kind: logical.ErrUpstream, Msg: "the Kubernetes TokenReview API's answer is too large"}
	}
	var answer tokenReview
	if err := json.Unmarshal(data, &answer); err != nil {
		return "", &logical.Error{Kind: logical.ErrUpstream, Msg: "the Kubernetes TokenReview API's answer is not a TokenReview", Err: err}
	}
	st := answer.Status
	if st.Error != "" || !st.Authenticated {
		var cause error
		if st.Error != "" {
			cause = errors.New("token review error: " + st.Error)
		}
		return "", &logical.Error{Kind: logical.ErrPermissionDenied, Msg: "permission denied: the Kubernetes API did not authenticate the token (it may be expired or its service account or pod deleted)", Err: cause}
	}
	if st.User.Username != "system:serviceaccount:"+sa.Namespace+":"+sa.Name {
		return "", denied("permission denied: the Kubernetes API authenticated the token as another user than its service account claims name")
	}
	if sa.UID != "" && st.User.UID != "" && st.User.UID != sa.UID {
		return "", denied("permission denied: the Kubernetes API reports another service account UID than the token claims")
	}
	if audience != "" && !slices.Contains(st.Audiences, audience) {
		return "", denied("permission denied: the Kubernetes API did not confirm the role's audience for the token")
	}
	return st.User.UID, nil
}
