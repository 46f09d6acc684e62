// A CA generated for this run, and a server certificate it signs for the
// upstream (SAN localhost and 127.0.0.1), so every TLS peer really verifies.
import selfsigned from "selfsigned";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

export async function makeCerts(dir) {
  const ca = await selfsigned.generate([{ name: "commonName", value: "ocp-bench CA" }], {
    keyType: "ec",
    algorithm: "sha256",
    extensions: [
      { name: "basicConstraints", cA: true, critical: true },
      { name: "keyUsage", keyCertSign: true, cRLSign: true, critical: true },
    ],
  });
  const server = await selfsigned.generate([{ name: "commonName", value: "localhost" }], {
    keyType: "ec",
    algorithm: "sha256",
    ca: { key: ca.private, cert: ca.cert },
    extensions: [
      { name: "basicConstraints", cA: false },
      { name: "keyUsage", digitalSignature: true, critical: true },
      { name: "extKeyUsage", serverAuth: true },
      { name: "subjectAltName", altNames: [{ type: 2, value: "localhost" }, { type: 7, ip: "127.0.0.1" }] },
    ],
  });
  const files = { ca: join(dir, "ca.crt"), cert: join(dir, "upstream.crt"), key: join(dir, "upstream.key") };
  writeFileSync(files.ca, ca.cert);
  writeFileSync(files.cert, server.cert);
  writeFileSync(files.key, server.private, { mode: 0o600 });
  return { ...files, caPem: ca.cert };
}
