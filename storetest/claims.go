package storetest

import (
	"fmt"

	"github.com/regcenter/regcenter"
)

// Claims returns n claims with ESNs prefix0000000, prefix0000001, …, one in
// ten with its own address: the uploads every store's benchmarks make, so
// that their figures compare.
func Claims(prefix string, n int) []regcenter.DeviceClaim {
	claims := make([]regcenter.DeviceClaim, n)
	for i := range claims {
		claims[i] = regcenter.DeviceClaim{ESN: fmt.Sprintf("%s%07d", prefix, i), DeviceType: "S5735-L24T4S-A"}
		if i%10 == 0 {
			claims[i].Addresses = []regcenter.Address{{Host: "edge.example.net", Port: 10020}}
		}
	}
	return claims
}
