// Command netcheck runs inside a pod on the test bed's real node and checks the pod's network the way Sluice's
// operator and workers use it: the API server through the `kubernetes` Service (the ClusterIP that kube-proxy
// routes) with the pod's projected ServiceAccount token, and plain TCP to addresses on the node's bridge
// (Kafka, S3, the registry). It prints one line per check and exits 1 if any check fails.
//
//	netcheck [HOST:PORT ...]
package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

const serviceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

func main() {
	failed := false
	report := func(name string, err error) {
		if err != nil {
			failed = true
			fmt.Printf("FAIL %s: %v\n", name, err)
			return
		}
		fmt.Printf("ok   %s\n", name)
	}
	report("api server via the kubernetes Service", checkAPIServer())
	for _, addr := range os.Args[1:] {
		report("tcp "+addr, checkTCP(addr))
	}
	if failed {
		os.Exit(1)
	}
}

// checkAPIServer lists the pod's own namespace's ServiceAccounts: it needs the ClusterIP route, the cluster CA
// from the projected volume, and a token the API server accepts (any authenticated user may then be denied by
// RBAC, which still proves all three: 403 counts as reached and authenticated, 401 does not).
func checkAPIServer() error {
	host, port := os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT")
	if host == "" || port == "" {
		return fmt.Errorf("KUBERNETES_SERVICE_HOST/PORT not set")
	}
	token, err := os.ReadFile(serviceAccountDir + "/token")
	if err != nil {
		return err
	}
	caPEM, err := os.ReadFile(serviceAccountDir + "/ca.crt")
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return fmt.Errorf("no certificate in ca.crt")
	}
	client := &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
	}
	req, err := http.NewRequest(http.MethodGet, "https://"+net.JoinHostPort(host, port)+"/api", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusForbidden {
		return fmt.Errorf("GET /api via %s:%s: %s", host, port, resp.Status)
	}
	return nil
}

func checkTCP(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	return conn.Close()
}
