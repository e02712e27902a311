package kubernetes_test

import (
	"path"
	"testing"

	"github.com/cairnfs/cairn/deploy/kubernetes/render"
)

// TestNodeEncryptionKey: in every shipped overlay the data nodes read
// their encryption key from the Secret cairn-node-encryption-key, mounted
// read-only with mode 0440 (the node refuses a key others may read), at
// the path CAIRN_ENCRYPTION_KEY_FILE names; no other role mounts it.
func TestNodeEncryptionKey(t *testing.T) {
	for _, dir := range []string{"base", "overlays/dev", "overlays/production", "overlays/cert-manager"} {
		c := load(t, dir)
		node := c.byRole(t, "node")
		ctr := node.Template.Spec.Containers[0]
		file := envValue(ctr, "CAIRN_ENCRYPTION_KEY_FILE")
		if file == "" {
			t.Errorf("%s: the data nodes get no CAIRN_ENCRYPTION_KEY_FILE", dir)
			continue
		}
		found := false
		for _, sm := range render.OtherSecretMountsOf(node) {
			if sm.Secret != render.EncryptionKeySecret {
				continue
			}
			found = true
			if want := path.Join(sm.Path, render.EncryptionKeyFile); file != want {
				t.Errorf("%s: CAIRN_ENCRYPTION_KEY_FILE=%s, but the Secret's key file is mounted at %s", dir, file, want)
			}
		}
		if !found {
			t.Errorf("%s: the data nodes do not mount the Secret %s", dir, render.EncryptionKeySecret)
		}
		for _, v := range node.Template.Spec.Volumes {
			if v.Secret != nil && v.Secret.SecretName == render.EncryptionKeySecret {
				if v.Secret.DefaultMode == nil || *v.Secret.DefaultMode != 0o440 {
					t.Errorf("%s: the encryption key Secret's mode is %v, want 0440", dir, v.Secret.DefaultMode)
				}
			}
		}
		for _, m := range ctr.VolumeMounts {
			for _, v := range node.Template.Spec.Volumes {
				if v.Name == m.Name && v.Secret != nil && v.Secret.SecretName == render.EncryptionKeySecret && !m.ReadOnly {
					t.Errorf("%s: the encryption key is mounted writable", dir)
				}
			}
		}
		for _, role := range []string{"meta", "gateway"} {
			w := c.byRole(t, role)
			for _, sm := range render.OtherSecretMountsOf(w) {
				if sm.Secret == render.EncryptionKeySecret {
					t.Errorf("%s: %s pods mount the data nodes' encryption key", dir, role)
				}
			}
		}
	}
}
