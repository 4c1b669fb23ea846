package podnet

import "strings"

// Manifest returns the DaemonSet that runs podnet on every node, in the form
// kind installs from a node image's /kind/manifests/default-cni.yaml: kind
// fills in {{ .PodSubnet }} ("template" marker) and appends
// CONTROL_PLANE_ENDPOINT to the first container's env ("patch" marker), so
// podnet reaches the API server before any Service routing exists.
func Manifest(image string) string {
	return strings.ReplaceAll(manifestTemplate, "IMAGE", image)
}

const manifestTemplate = `# chaosgate podnet: pod network for offline kind clusters.
# kind: would you kindly template this file
# kind: would you kindly patch this file
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: podnet
  namespace: kube-system
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: podnet
rules:
- apiGroups: [""]
  resources: ["nodes"]
  verbs: ["get", "list", "watch"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: podnet
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: podnet
subjects:
- kind: ServiceAccount
  name: podnet
  namespace: kube-system
---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: podnet
  namespace: kube-system
  labels:
    app: podnet
    k8s-app: podnet
spec:
  selector:
    matchLabels:
      app: podnet
  updateStrategy:
    type: RollingUpdate
  template:
    metadata:
      labels:
        app: podnet
        k8s-app: podnet
    spec:
      hostNetwork: true
      priorityClassName: system-node-critical
      serviceAccountName: podnet
      tolerations:
      - operator: Exists
      containers:
      - name: podnet
        image: IMAGE
        imagePullPolicy: IfNotPresent
        args: ["run"]
        env:
        - name: NODE_NAME
          valueFrom:
            fieldRef:
              fieldPath: spec.nodeName
        - name: POD_SUBNET
          value: "{{ .PodSubnet }}"
        readinessProbe:
          exec:
            command: ["/usr/local/bin/podnet", "check", "--max-age=30s"]
          periodSeconds: 5
        livenessProbe:
          exec:
            command: ["/usr/local/bin/podnet", "check", "--max-age=120s"]
          initialDelaySeconds: 60
          periodSeconds: 20
        resources:
          requests:
            cpu: 10m
            memory: 30Mi
          limits:
            memory: 100Mi
        securityContext:
          privileged: false
          capabilities:
            add: ["NET_RAW", "NET_ADMIN"]
        volumeMounts:
        - name: cni-cfg
          mountPath: /etc/cni/net.d
        - name: xtables-lock
          mountPath: /run/xtables.lock
        - name: state
          mountPath: /run/podnet
      volumes:
      - name: cni-cfg
        hostPath:
          path: /etc/cni/net.d
          type: DirectoryOrCreate
      - name: xtables-lock
        hostPath:
          path: /run/xtables.lock
          type: FileOrCreate
      - name: state
        emptyDir: {}
`
