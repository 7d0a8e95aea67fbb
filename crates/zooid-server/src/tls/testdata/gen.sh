#!/usr/bin/env bash
# Makes the key and trust stores the tests read (see README.md). Run it in this folder with
# Java 17's keytool and OpenSSL 3 on the PATH; the files are checked in, so tests need
# neither. Certificates are valid for 100 years.
set -euo pipefail
rm -f ./*.jks ./*.p12 ./*.jceks ./*.pem ./*.csr
kt() { keytool -noprompt "$@" 2>/dev/null; }
days=36500

# The CA: an EC P-256 key, kept in ca.p12 only to sign the others.
kt -genkeypair -alias ca -keyalg EC -groupname secp256r1 -dname "CN=Zooid Store Test CA" \
  -ext bc:c -validity $days -storetype PKCS12 -keystore ca.p12 -storepass capass
kt -exportcert -rfc -alias ca -keystore ca.p12 -storepass capass -file ca.pem

# sign STORE STOREPASS ALIAS SAN: has the CA sign ALIAS's key and imports the reply.
sign() {
  local ext=()
  if [ -n "$4" ]; then ext=(-ext "san=$4"); fi
  kt -certreq -alias "$3" -keystore "$1" -storepass "$2" -file req.csr
  kt -gencert -alias ca -keystore ca.p12 -storepass capass -infile req.csr -outfile signed.pem \
    -rfc -validity $days "${ext[@]}"
  kt -importcert -alias ca -file ca.pem -keystore "$1" -storepass "$2"
  kt -importcert -alias "$3" -file signed.pem -keystore "$1" -storepass "$2"
  rm -f req.csr signed.pem
}

# server.jks: JKS, RSA 2048 key for localhost / 127.0.0.1, chain [server, CA], plus the CA
# as a trusted entry (keytool needs it there to import the reply).
kt -genkeypair -alias server -keyalg RSA -keysize 2048 -dname "CN=localhost" -validity $days \
  -storetype JKS -keystore server.jks -storepass serverpass -keypass serverpass
sign server.jks serverpass server "dns:localhost,ip:127.0.0.1"

# server-ec.p12: PKCS12 as Java 17 writes it (PBES2, PBKDF2-HMAC-SHA256, AES-256, MAC
# HmacPBESHA256), EC P-384 key.
kt -genkeypair -alias server -keyalg EC -groupname secp384r1 -dname "CN=localhost" \
  -validity $days -storetype PKCS12 -keystore server-ec.p12 -storepass serverpass
sign server-ec.p12 serverpass server "dns:localhost,ip:127.0.0.1"

# server-p12.jks: a PKCS12 store with a .jks name (Java 9+ reads it as JKS too).
cp server-ec.p12 server-p12.jks

# client.p12 / client-key.pem / client-cert.pem: the client's EC P-256 key.
kt -genkeypair -alias client -keyalg EC -groupname secp256r1 -dname "CN=client,O=Zooid" \
  -validity $days -storetype PKCS12 -keystore client.p12 -storepass clientpass
sign client.p12 clientpass client ""
# (through `openssl ec`, which adds the public key Java leaves out and ring wants).
openssl pkcs12 -in client.p12 -passin pass:clientpass -nocerts -nodes 2>/dev/null \
  | openssl ec 2>/dev/null | openssl pkcs8 -topk8 -nocrypt -out client-key.pem
openssl pkcs12 -in client.p12 -passin pass:clientpass -clcerts -nokeys 2>/dev/null \
  | openssl x509 -out client-cert.pem

# Trust stores with the CA only.
kt -importcert -alias ca -file ca.pem -storetype PKCS12 -keystore trust.p12 -storepass trustpass
kt -importcert -alias ca -file ca.pem -storetype JKS -keystore trust.jks -storepass trustpass

# OpenSSL-made PKCS12 stores of the EC server key and chain: the default (PBES2/AES-256,
# MAC SHA-256) and -legacy (RC2-40 certificates, 3DES key, MAC SHA-1).
# server-ec.pem: the same as a PEM key store (openssl keeps Java's PKCS#8 without the
# public key).
openssl pkcs12 -in server-ec.p12 -passin pass:serverpass -nodes 2>/dev/null > server-ec.pem
openssl pkcs12 -export -in server-ec.pem -name server -passout pass:serverpass -out server-openssl.p12
openssl pkcs12 -export -legacy -in server-ec.pem -name server -passout pass:serverpass \
  -out server-legacy.p12
# Without MAC (and legacy ciphers): corrupt copies reach the decryption and the bags.
openssl pkcs12 -export -legacy -nomac -in server-ec.pem -name server -passout pass:serverpass \
  -out server-nomac.p12
# An OpenSSL trust store: certificates without Java's trusted-key-usage attribute, which
# Java does not take as trust anchors.
openssl pkcs12 -export -nokeys -in ca.pem -passout pass:trustpass -out trust-openssl.p12

# Stores the loader refuses or must choose in.
kt -genkeypair -alias dsa -keyalg DSA -keysize 1024 -dname "CN=dsa" -validity $days \
  -storetype JKS -keystore dsa.jks -storepass storepass
kt -genkeypair -alias other -keyalg EC -groupname secp256r1 -dname "CN=other" -validity $days \
  -storetype JKS -keystore keypass.jks -storepass storepass -keypass otherpass
kt -genkeypair -alias secret -keyalg EC -groupname secp256r1 -dname "CN=secret" -validity $days \
  -storetype JCEKS -keystore store.jceks -storepass storepass
cp server.jks two-keys.jks
kt -genkeypair -alias another -keyalg EC -groupname secp256r1 -dname "CN=another" \
  -validity $days -storetype JKS -keystore two-keys.jks -storepass serverpass
rm -f ca.p12

# ed25519.p12: an Ed25519 key, self-signed.
kt -genkeypair -alias ed -keyalg Ed25519 -dname "CN=ed" -validity $days -storetype PKCS12 \
  -keystore ed25519.p12 -storepass storepass
