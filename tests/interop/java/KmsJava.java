// SPDX-License-Identifier: Apache-2.0
// Java's SunPKCS11 on kms11: the key store lists the key pairs whose certificates are stored; SHA256withRSA,
// RSASSA-PSS and SHA256withECDSA signatures made by kms11 keys verify with the JDK's own providers; AES-GCM under a
// key given to the token encrypts what the JDK's SunJCE decrypts, and back.
// usage: java KmsJava CONFIG PIN RSA_ALIAS EC_ALIAS
import java.nio.charset.StandardCharsets;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.Provider;
import java.security.PublicKey;
import java.security.Security;
import java.security.Signature;
import java.security.cert.Certificate;
import java.security.spec.MGF1ParameterSpec;
import java.security.spec.PSSParameterSpec;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import javax.crypto.Cipher;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;

public class KmsJava {
    static int ok = 0, bad = 0;

    static void check(String what, boolean cond) {
        System.out.println((cond ? "ok - " : "not ok - ") + what);
        if (cond) ok++; else bad++;
    }

    /* Signs with the kms11 key through SunPKCS11 and verifies with the JDK's own provider. */
    static void signVerify(Provider p11, String alg, PSSParameterSpec pss, PrivateKey priv, PublicKey pub,
                           String verifier) throws Exception {
        byte[] msg = ("signed by kms11 with " + alg).getBytes(StandardCharsets.UTF_8);
        Signature s = Signature.getInstance(alg, p11);
        if (pss != null) s.setParameter(pss);
        s.initSign(priv);
        s.update(msg);
        byte[] sig = s.sign();
        Signature v = Signature.getInstance(alg, verifier);
        if (pss != null) v.setParameter(pss);
        v.initVerify(pub);
        v.update(msg);
        check(alg + " by kms11 verifies with " + verifier, v.verify(sig));
        v.initVerify(pub);
        v.update("another message".getBytes(StandardCharsets.UTF_8));
        check(alg + ": another message does not verify", !v.verify(sig));
    }

    public static void main(String[] args) throws Exception {
        Provider p11 = Security.getProvider("SunPKCS11").configure(args[0]);
        Security.addProvider(p11);
        KeyStore ks = KeyStore.getInstance("PKCS11", p11);
        ks.load(null, args[1].toCharArray());
        List<String> aliases = new ArrayList<>(Collections.list(ks.aliases()));
        System.out.println("# aliases: " + aliases);
        check("the key store lists " + args[2] + " and " + args[3],
              aliases.contains(args[2]) && aliases.contains(args[3]));
        check(args[2] + " is a private key entry", ks.isKeyEntry(args[2]) && ks.getCertificate(args[2]) != null);

        PrivateKey rsa = (PrivateKey) ks.getKey(args[2], null);
        Certificate rsaCert = ks.getCertificate(args[2]);
        signVerify(p11, "SHA256withRSA", null, rsa, rsaCert.getPublicKey(), "SunRsaSign");
        signVerify(p11, "RSASSA-PSS", new PSSParameterSpec("SHA-256", "MGF1", MGF1ParameterSpec.SHA256, 32, 1), rsa,
                   rsaCert.getPublicKey(), "SunRsaSign");
        PrivateKey ec = (PrivateKey) ks.getKey(args[3], null);
        signVerify(p11, "SHA256withECDSA", null, ec, ks.getCertificate(args[3]).getPublicKey(), "SunEC");

        byte[] raw = new byte[32];
        for (int i = 0; i < raw.length; i++) raw[i] = (byte) (i * 7 + 1);
        SecretKeySpec aes = new SecretKeySpec(raw, "AES");
        byte[] iv = new byte[12];
        Arrays.fill(iv, (byte) 9);
        byte[] plain = "AES-GCM through SunPKCS11 and kms11".getBytes(StandardCharsets.UTF_8);
        Cipher enc = Cipher.getInstance("AES/GCM/NoPadding", p11);
        enc.init(Cipher.ENCRYPT_MODE, aes, new GCMParameterSpec(128, iv));
        enc.updateAAD("header".getBytes(StandardCharsets.UTF_8));
        byte[] ct = enc.doFinal(plain);
        Cipher dec = Cipher.getInstance("AES/GCM/NoPadding", "SunJCE");
        dec.init(Cipher.DECRYPT_MODE, aes, new GCMParameterSpec(128, iv));
        dec.updateAAD("header".getBytes(StandardCharsets.UTF_8));
        check("AES-GCM by kms11 decrypts with SunJCE", Arrays.equals(dec.doFinal(ct), plain));
        Cipher enc2 = Cipher.getInstance("AES/GCM/NoPadding", "SunJCE");
        byte[] iv2 = Arrays.copyOf(iv, 12);
        iv2[0] = 1;
        enc2.init(Cipher.ENCRYPT_MODE, aes, new GCMParameterSpec(128, iv2));
        byte[] ct2 = enc2.doFinal(plain);
        Cipher dec2 = Cipher.getInstance("AES/GCM/NoPadding", p11);
        dec2.init(Cipher.DECRYPT_MODE, aes, new GCMParameterSpec(128, iv2));
        check("AES-GCM by SunJCE decrypts with kms11", Arrays.equals(dec2.doFinal(ct2), plain));
        ct2[3] ^= 1;
        dec2.init(Cipher.DECRYPT_MODE, aes, new GCMParameterSpec(128, iv2));
        boolean refused = false;
        try {
            dec2.doFinal(ct2);
        } catch (javax.crypto.AEADBadTagException e) {
            refused = true;
        }
        check("a changed AES-GCM ciphertext is refused (AEADBadTagException)", refused);
        System.out.println("# java: " + ok + " ok, " + bad + " not ok");
        System.exit(bad == 0 ? 0 : 1);
    }
}
