// An outside judge for SM2 CSRs: BouncyCastle's PKCS#10 parser and its SM3withSM2 verifier,
// which uses the GM/T 0009 default distinguishing ID 1234567812345678.
// Run: java -cp bcprov.jar:bcpkix.jar:bcutil.jar Sm2CsrVerify.java FILE.csr.pem...
// Prints one line per file: "<file>: valid <signature OID> <curve OID>" or "<file>: INVALID ...";
// exits 0 only when every CSR verifies.
import java.io.FileReader;
import java.security.Security;
import org.bouncycastle.asn1.ASN1ObjectIdentifier;
import org.bouncycastle.jce.provider.BouncyCastleProvider;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.operator.jcajce.JcaContentVerifierProviderBuilder;
import org.bouncycastle.pkcs.PKCS10CertificationRequest;

public class Sm2CsrVerify {
    public static void main(String[] args) throws Exception {
        Security.addProvider(new BouncyCastleProvider());
        boolean all = true;
        for (String path : args) {
            try (PEMParser parser = new PEMParser(new FileReader(path))) {
                PKCS10CertificationRequest csr = (PKCS10CertificationRequest) parser.readObject();
                String sigAlg = csr.getSignatureAlgorithm().getAlgorithm().getId();
                String curve = ((ASN1ObjectIdentifier) csr.getSubjectPublicKeyInfo()
                        .getAlgorithm().getParameters()).getId();
                boolean ok = csr.isSignatureValid(
                        new JcaContentVerifierProviderBuilder().setProvider("BC")
                                .build(csr.getSubjectPublicKeyInfo()));
                System.out.println(path + ": " + (ok ? "valid" : "INVALID") + " " + sigAlg + " " + curve);
                all &= ok;
            } catch (Exception e) {
                System.out.println(path + ": INVALID " + e);
                all = false;
            }
        }
        System.exit(all ? 0 : 1);
    }
}
