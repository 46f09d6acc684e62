// Wrapper module: builds github.com/pulumi/pulumi-kubernetes/provider/v4@v4.0.0-20260115033456-f47bc2d6f199 from the Go module proxy. Regenerate with
// controlplane/pin.sh pulumi-kubernetes v4.0.0-20260115033456-f47bc2d6f199 4.25.0; do not edit by hand.
module openai-compatible-provider/controlplane/pulumi-kubernetes

go 1.24.7

require github.com/pulumi/pulumi-kubernetes/provider/v4 v4.0.0-20260115033456-f47bc2d6f199

require github.com/pulumi/pulumi-kubernetes/sdk/v4 v4.24.0 // indirect
