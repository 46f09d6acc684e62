/** A CA and server certificates generated at test time (EC P-256, fast). */
import { generate } from "selfsigned";

export interface TestCa {
  caCert: string;
  caKey: string;
  /** A server certificate for these DNS names (and 127.0.0.1), signed by the CA; valid from a day ago for a week unless `validity` says otherwise. */
  server(names: string[], validity?: { notBefore: Date; notAfter: Date }): Promise<{ cert: string; key: string }>;
}

const day = 24 * 60 * 60 * 1000;

export async function createTestCa(commonName = "openai-compatible-proxy test CA"): Promise<TestCa> {
  const ca = await generate([{ name: "commonName", value: commonName }], {
    keyType: "ec",
    algorithm: "sha256",
    notBeforeDate: new Date(Date.now() - day),
    notAfterDate: new Date(Date.now() + 7 * day),
    extensions: [
      { name: "basicConstraints", cA: true, critical: true },
      { name: "keyUsage", keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    ],
  });
  return {
    caCert: ca.cert,
    caKey: ca.private,
    async server(names, validity) {
      const pems = await generate([{ name: "commonName", value: names[0] ?? "localhost" }], {
        keyType: "ec",
        algorithm: "sha256",
        notBeforeDate: validity?.notBefore ?? new Date(Date.now() - day),
        notAfterDate: validity?.notAfter ?? new Date(Date.now() + 7 * day),
        ca: { key: ca.private, cert: ca.cert },
        extensions: [
          { name: "basicConstraints", cA: false },
          { name: "keyUsage", digitalSignature: true, keyEncipherment: true },
          { name: "extKeyUsage", serverAuth: true },
          { name: "subjectAltName", altNames: [...names.map((value) => ({ type: 2 as const, value })), { type: 7, ip: "127.0.0.1" }] },
        ],
      });
      return { cert: pems.cert, key: pems.private };
    },
  };
}
