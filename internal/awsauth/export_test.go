package awsauth

// CachedTokens answers how many tokens a answers from its cache.
func CachedTokens(a Authenticator) int { return a.(*coreAuthenticator).cachedTokens() }
