// The generation portal's page script for the way where the key never
// leaves the citizen's device: the key is generated here with WebCrypto,
// a certificate request (PKCS#10) signed with it goes to the portal with
// the NIF/NIE and the Generation Code, and the certificate that comes back
// is put with the key into a PKCS#12 file under the citizen's password,
// built here and saved as a download. The password never leaves the page.
//
// PKI.js (PeculiarVentures) does the ASN.1: certificate requests over
// WebCrypto keys and PKCS#12 with PBES2, the formats the server-side way
// writes (`portal/src/issue.rs`). `build.sh` bundles this file with it
// into `../assets/browser.js`, the file the portal serves.

import * as asn1js from "asn1js";
import * as pkijs from "pkijs";

// As the server-side way: PBKDF2-HMAC-SHA-256 for the key and the MAC.
const ITERATIONS = 600000;

const ALGORITHMS = {
  p256: { name: "ECDSA", namedCurve: "P-256" },
  rsa2048: {
    name: "RSASSA-PKCS1-v1_5",
    modulusLength: 2048,
    publicExponent: new Uint8Array([1, 0, 1]),
    hash: "SHA-256",
  },
};

const OID = {
  commonName: "2.5.4.3",
  keyBag: "1.2.840.113549.1.12.10.1.2",
  certBag: "1.2.840.113549.1.12.10.1.3",
  friendlyName: "1.2.840.113549.1.9.20",
  localKeyId: "1.2.840.113549.1.9.21",
};

const form = document.getElementById("browser-form");
const button = document.getElementById("generate");
const messages = JSON.parse(document.getElementById("messages").textContent);

function show(id, text) {
  for (const other of ["error", "status", "done"]) {
    const el = document.getElementById(other);
    el.hidden = other !== id;
    if (other === id) el.textContent = text;
  }
}

function base64(bytes) {
  let text = "";
  for (const b of new Uint8Array(bytes)) text += String.fromCharCode(b);
  return btoa(text);
}

function pemBodies(pem) {
  const found = pem.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) || [];
  return found.map((block) => {
    const body = block.replace(/-----(BEGIN|END) CERTIFICATE-----|\s/g, "");
    return Uint8Array.from(atob(body), (c) => c.charCodeAt(0)).buffer;
  });
}

async function certificateRequest(keys, nif) {
  // The attributes field is not optional in PKCS#10 (RFC 2986): an empty
  // set, which PKI.js leaves out unless given one.
  const request = new pkijs.CertificationRequest({ attributes: [] });
  // The CA names the holder from the registry; the request's subject only
  // says whose request it is.
  request.subject.typesAndValues.push(
    new pkijs.AttributeTypeAndValue({
      type: OID.commonName,
      value: new asn1js.Utf8String({ value: nif }),
    }),
  );
  await request.subjectPublicKeyInfo.importKey(keys.publicKey);
  await request.sign(keys.privateKey, "SHA-256");
  return request.toSchema().toBER(false);
}

function bagAttributes(name, keyId) {
  return [
    new pkijs.Attribute({
      type: OID.friendlyName,
      values: [new asn1js.BmpString({ value: name })],
    }),
    new pkijs.Attribute({
      type: OID.localKeyId,
      values: [new asn1js.OctetString({ valueHex: keyId })],
    }),
  ];
}

async function pkcs12(keys, chain, password, name) {
  const secret = new TextEncoder().encode(password).buffer;
  const pkcs8 = await crypto.subtle.exportKey("pkcs8", keys.privateKey);
  const keyId = (await crypto.subtle.digest("SHA-256", chain[0])).slice(0, 20);
  const encryption = {
    password: secret,
    contentEncryptionAlgorithm: { name: "AES-CBC", length: 256 },
    hmacHashAlgorithm: "SHA-256",
    iterationCount: ITERATIONS,
  };
  const keyBag = new pkijs.PKCS8ShroudedKeyBag({
    parsedValue: pkijs.PrivateKeyInfo.fromBER(pkcs8),
  });
  await keyBag.makeInternalValues(encryption);
  const certBags = chain.map(
    (der, i) =>
      new pkijs.SafeBag({
        bagId: OID.certBag,
        bagValue: new pkijs.CertBag({ parsedValue: pkijs.Certificate.fromBER(der) }),
        bagAttributes: i === 0 ? bagAttributes(name, keyId) : undefined,
      }),
  );
  const pfx = new pkijs.PFX({
    parsedValue: {
      integrityMode: 0,
      authenticatedSafe: new pkijs.AuthenticatedSafe({
        parsedValue: {
          safeContents: [
            {
              privacyMode: 0,
              value: new pkijs.SafeContents({
                safeBags: [
                  new pkijs.SafeBag({
                    bagId: OID.keyBag,
                    bagValue: keyBag,
                    bagAttributes: bagAttributes(name, keyId),
                  }),
                ],
              }),
            },
            { privacyMode: 1, value: new pkijs.SafeContents({ safeBags: certBags }) },
          ],
        },
      }),
    },
  });
  await pfx.parsedValue.authenticatedSafe.makeInternalValues({
    safeContents: [{}, encryption],
  });
  await pfx.makeInternalValues({
    password: secret,
    iterations: ITERATIONS,
    pbkdf2HashAlgorithm: "SHA-256",
    hmacHashAlgorithm: "SHA-256",
  });
  return pfx.toSchema().toBER(false);
}

function save(bytes, filename) {
  const url = URL.createObjectURL(new Blob([bytes], { type: "application/x-pkcs12" }));
  const link = document.createElement("a");
  link.href = url;
  link.download = filename;
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

async function generate() {
  const field = (name) => form.elements[name].value;
  const password = field("password");
  const length = [...password].length;
  if (length < 8) return show("error", messages.passwordShort);
  if (length > 128) return show("error", messages.passwordLong);
  if (password !== field("password2")) return show("error", messages.passwordMismatch);
  // The generation form names the citizen; a renewal in the citizen's
  // area does not (the certificate they came in with does).
  const nif = form.elements.nif ? field("nif").trim().toUpperCase() : "";

  show("status", messages.working);
  const keys = await crypto.subtle.generateKey(ALGORITHMS[field("key")], true, [
    "sign",
    "verify",
  ]);
  const csr = await certificateRequest(keys, nif || "Firma");
  // Every field but the password and the kind of key, which stay here.
  const body = new URLSearchParams();
  for (const el of form.elements) {
    if (el.name && !["password", "password2", "key"].includes(el.name)) {
      body.append(el.name, el.value);
    }
  }
  body.append("csr", base64(csr));
  const answer = await fetch(form.action, { method: "POST", body });
  // Every answer carries a fresh token: the one sent is spent.
  const token = answer.headers.get("x-firma-csrf");
  if (token) form.elements.csrf.value = token;
  const text = await answer.text();
  if (!answer.ok) return show("error", text);

  const chain = pemBodies(text);
  if (chain.length === 0) return show("error", messages.failed);
  // Named in the importing program as the server-side file is: the
  // certificate's common name.
  const leaf = pkijs.Certificate.fromBER(chain[0]);
  const cn = leaf.subject.typesAndValues.find((t) => t.type === OID.commonName);
  const file = await pkcs12(keys, chain, password, cn ? cn.value.valueBlock.value : nif);
  const filename = form.dataset.filename || `certificado-${nif}.p12`;
  save(file, filename);
  form.elements.password.value = "";
  form.elements.password2.value = "";
  if (form.elements.code) form.elements.code.value = "";
  show("done", messages.done.replace("{file}", filename));
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  button.disabled = true;
  generate()
    .catch((e) => show("error", `${messages.failed} (${e && e.message ? e.message : e})`))
    .finally(() => {
      button.disabled = false;
    });
});
button.disabled = false;
