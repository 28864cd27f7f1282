module github.com/jwtrevoke/jwtrevoke

go 1.26.8

require (
	github.com/bits-and-blooms/bloom/v3 v3.7.1
	github.com/golang-jwt/jwt/v5 v5.3.1
	github.com/hashicorp/golang-lru/v2 v2.0.7
)

require github.com/bits-and-blooms/bitset v1.24.2 // indirect
