/**
 * The seal of stored assignments: AES-256-GCM under a key derived from the pool secret. A queued
 * or claimed assignment carries its workload's task token, so it is stored (and signalled between
 * replicas) sealed: the database never holds the token readable, and any replica sharing the
 * secret can open it and deliver it.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from "node:crypto";
import type { Assignment } from "../wire/protocol";

export class AssignmentSeal {
  private readonly key: Buffer;

  constructor(secret: string) {
    this.key = Buffer.from(hkdfSync("sha256", secret, "plue-runner-pool", "assignment-seal-v1", 32));
  }

  /** iv (12 bytes) ‖ tag (16 bytes) ‖ ciphertext of the assignment's JSON. */
  seal(assignment: Assignment): Buffer {
    const iv = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", this.key, iv);
    const body = Buffer.concat([cipher.update(JSON.stringify(assignment), "utf8"), cipher.final()]);
    return Buffer.concat([iv, cipher.getAuthTag(), body]);
  }

  open(sealed: Uint8Array): Assignment {
    const buf = Buffer.from(sealed);
    const decipher = createDecipheriv("aes-256-gcm", this.key, buf.subarray(0, 12));
    decipher.setAuthTag(buf.subarray(12, 28));
    try {
      return JSON.parse(
        Buffer.concat([decipher.update(buf.subarray(28)), decipher.final()]).toString("utf8"),
      );
    } catch {
      throw new Error("cannot open a stored assignment: the replicas' PLUE_POOL_SECRET differs");
    }
  }
}
