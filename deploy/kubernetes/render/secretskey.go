package render

import (
	"fmt"
	"path"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// The secrets key seals the S3 secrets and token signing keys the
// metadata peers store (docs/security.md, "Data at rest"). The metadata
// pods read it from the Secret SecretsKeySecret, which the operator
// creates (`cairn cert create-key`), mounted read-only at
// SecretsKeyMountPath: CAIRN_SECRETS_KEY_FILE names its key
// SecretsKeyFile. While the key is rotated the Secret also holds the
// previous key as SecretsOldKeyFile, which CAIRN_SECRETS_OLD_KEY_FILE
// names for as long as the rotation lasts (docs/kubernetes.md).
const (
	SecretsKeySecret    = "cairn-secrets-key"
	SecretsKeyMountPath = "/etc/cairn/secrets"
	SecretsKeyFile      = "secrets.key"
	SecretsOldKeyFile   = "secrets-old.key"
)

// SecretsKeyVolumeOf returns the volume holding the file a workload's
// CAIRN_SECRETS_KEY_FILE names, with the container's mount of it; ok is
// false when the workload reads no secrets key.
func SecretsKeyVolumeOf(w Workload) (v corev1.Volume, m corev1.VolumeMount, ok bool, err error) {
	if len(w.Template.Spec.Containers) == 0 {
		return v, m, false, fmt.Errorf("%v: no container", w)
	}
	ctr := w.Template.Spec.Containers[0]
	file := ""
	for _, e := range ctr.Env {
		if e.Name == "CAIRN_SECRETS_KEY_FILE" {
			file = e.Value
		}
	}
	if file == "" {
		return v, m, false, nil
	}
	for _, m := range ctr.VolumeMounts {
		if path.Dir(file) != strings.TrimSuffix(m.MountPath, "/") {
			continue
		}
		for _, v := range w.Template.Spec.Volumes {
			if v.Name == m.Name {
				return v, m, true, nil
			}
		}
		return corev1.Volume{}, m, true, fmt.Errorf("%v: the mount at %s has no volume %s", w, m.MountPath, m.Name)
	}
	return v, m, true, fmt.Errorf("%v: CAIRN_SECRETS_KEY_FILE=%s is not in a mounted folder", w, file)
}
