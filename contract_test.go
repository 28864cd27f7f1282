package jwtrevoke_test

import (
	"errors"
	"testing"
	"time"

	"github.com/jwtrevoke/jwtrevoke"
)

func TestContractMetadataRoundTrip(t *testing.T) {
	c := jwtrevoke.Contract{WireVersion: jwtrevoke.WireVersion, SubjectPrefix: "acme.v1", MaxTokenLifetime: 90 * time.Minute, Leeway: 1500 * time.Millisecond}
	md := c.Metadata()
	want := map[string]string{
		"jwtrevoke.wire_version":          "1",
		"jwtrevoke.subject_prefix":        "acme.v1",
		"jwtrevoke.max_token_lifetime_ms": "5400000",
		"jwtrevoke.leeway_ms":             "1500",
	}
	for k, v := range want {
		if md[k] != v {
			t.Errorf("Metadata()[%q] = %q, want %q", k, md[k], v)
		}
	}
	got, ok, err := jwtrevoke.ContractFromMetadata(md)
	if err != nil || !ok || got != c {
		t.Errorf("ContractFromMetadata(Metadata()) = %+v, %v, %v; want %+v", got, ok, err, c)
	}
	if _, ok, err := jwtrevoke.ContractFromMetadata(map[string]string{"other": "x"}); ok || err != nil {
		t.Errorf("ContractFromMetadata(no contract) = ok %v, %v; want not ok, no error", ok, err)
	}
	if c.EventLifetime() != 90*time.Minute+1500*time.Millisecond+jwtrevoke.RetentionMargin {
		t.Errorf("EventLifetime() = %v", c.EventLifetime())
	}
}

func TestContractFromMetadataRefusesBadValues(t *testing.T) {
	good := jwtrevoke.DefaultContract().Metadata()
	for i, change := range []map[string]string{
		{"jwtrevoke.wire_version": "2"},
		{"jwtrevoke.wire_version": "one"},
		{"jwtrevoke.max_token_lifetime_ms": "-5"},
		{"jwtrevoke.max_token_lifetime_ms": "10"}, // under a second
		{"jwtrevoke.max_token_lifetime_ms": "1e9"},
		{"jwtrevoke.leeway_ms": ""},
		{"jwtrevoke.subject_prefix": ""},
		{"jwtrevoke.leeway_ms": "99999999999999999999"},
	} {
		md := map[string]string{}
		for k, v := range good {
			md[k] = v
		}
		for k, v := range change {
			md[k] = v
		}
		if c, ok, err := jwtrevoke.ContractFromMetadata(md); !errors.Is(err, jwtrevoke.ErrContract) || ok {
			t.Errorf("step %d: ContractFromMetadata(%v) = %+v, %v, %v; want ErrContract", i, change, c, ok, err)
		}
	}
	delete(good, "jwtrevoke.leeway_ms")
	if _, _, err := jwtrevoke.ContractFromMetadata(good); !errors.Is(err, jwtrevoke.ErrContract) {
		t.Errorf("ContractFromMetadata(three of four keys) error = %v, want ErrContract", err)
	}
}
