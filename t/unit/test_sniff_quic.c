/*
 * test_sniff_quic.c - unit tests for the QUIC Initial sniffer
 * (modules/sniff_quic.c): RFC 9001/9369 key derivation and sample packets,
 * and packets built here by a small test-only sealer (the inverse of the
 * sniffer) for split, reordered, coalesced and malformed flows.
 */
#include "../../src/tproxyd.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <openssl/evp.h>

#include "../../modules/sniff_wire.h"

#define V1      0x00000001u
#define V2      0x6b3343cfu
#define DRAFT29 0xff00001du

static const uint8_t rfc_dcid[8] = {
    0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08
};

/* The §2.6 ClientHello without its record header (241 bytes). */
static const char rfc_hello_hex[] =
    "010000ed0303ebf8fa56f12939b9584a3896472ec40bb863cfd3e8"
    "6804fe3a47f06a2b69484c00000413011302010000c000000010000e00000b65"
    "78616d706c652e636f6dff01000100000a00080006001d001700180010000700"
    "0504616c706e000500050100000000003300260024001d00209370b2c9caa47f"
    "babaf4559fedba753de171fa71f50f1ce15d43e994ec74d748002b0003020304"
    "000d0010000e0403050306030203080408050806002d00020101001c00024001"
    "003900320408ffffffffffffffff05048000ffff07048000ffff080110010480"
    "0075300901100f088394c8f03e51570806048000ffff";

/* RFC 9001 A.2: protected v1 client Initial, 1200 bytes. */
static const char rfc_v1_hex[] =
    "c000000001088394c8f03e5157080000449e7b9aec34d1b1c98dd7689fb8ec11"
    "d242b123dc9bd8bab936b47d92ec356c0bab7df5976d27cd449f63300099f399"
    "1c260ec4c60d17b31f8429157bb35a1282a643a8d2262cad67500cadb8e7378c"
    "8eb7539ec4d4905fed1bee1fc8aafba17c750e2c7ace01e6005f80fcb7df6212"
    "30c83711b39343fa028cea7f7fb5ff89eac2308249a02252155e2347b63d58c5"
    "457afd84d05dfffdb20392844ae812154682e9cf012f9021a6f0be17ddd0c208"
    "4dce25ff9b06cde535d0f920a2db1bf362c23e596d11a4f5a6cf3948838a3aec"
    "4e15daf8500a6ef69ec4e3feb6b1d98e610ac8b7ec3faf6ad760b7bad1db4ba3"
    "485e8a94dc250ae3fdb41ed15fb6a8e5eba0fc3dd60bc8e30c5c4287e53805db"
    "059ae0648db2f64264ed5e39be2e20d82df566da8dd5998ccabdae053060ae6c"
    "7b4378e846d29f37ed7b4ea9ec5d82e7961b7f25a9323851f681d582363aa5f8"
    "9937f5a67258bf63ad6f1a0b1d96dbd4faddfcefc5266ba6611722395c906556"
    "be52afe3f565636ad1b17d508b73d8743eeb524be22b3dcbc2c7468d54119c74"
    "68449a13d8e3b95811a198f3491de3e7fe942b330407abf82a4ed7c1b311663a"
    "c69890f4157015853d91e923037c227a33cdd5ec281ca3f79c44546b9d90ca00"
    "f064c99e3dd97911d39fe9c5d0b23a229a234cb36186c4819e8b9c5927726632"
    "291d6a418211cc2962e20fe47feb3edf330f2c603a9d48c0fcb5699dbfe58964"
    "25c5bac4aee82e57a85aaf4e2513e4f05796b07ba2ee47d80506f8d2c25e50fd"
    "14de71e6c418559302f939b0e1abd576f279c4b2e0feb85c1f28ff18f58891ff"
    "ef132eef2fa09346aee33c28eb130ff28f5b766953334113211996d20011a198"
    "e3fc433f9f2541010ae17c1bf202580f6047472fb36857fe843b19f5984009dd"
    "c324044e847a4f4a0ab34f719595de37252d6235365e9b84392b061085349d73"
    "203a4a13e96f5432ec0fd4a1ee65accdd5e3904df54c1da510b0ff20dcc0c77f"
    "cb2c0e0eb605cb0504db87632cf3d8b4dae6e705769d1de354270123cb11450e"
    "fc60ac47683d7b8d0f811365565fd98c4c8eb936bcab8d069fc33bd801b03ade"
    "a2e1fbc5aa463d08ca19896d2bf59a071b851e6c239052172f296bfb5e724047"
    "90a2181014f3b94a4e97d117b438130368cc39dbb2d198065ae3986547926cd2"
    "162f40a29f0c3c8745c0f50fba3852e566d44575c29d39a03f0cda721984b6f4"
    "40591f355e12d439ff150aab7613499dbd49adabc8676eef023b15b65bfc5ca0"
    "6948109f23f350db82123535eb8a7433bdabcb909271a6ecbcb58b936a88cd4e"
    "8f2e6ff5800175f113253d8fa9ca8885c2f552e657dc603f252e1a8e308f76f0"
    "be79e2fb8f5d5fbbe2e30ecadd220723c8c0aea8078cdfcb3868263ff8f09400"
    "54da48781893a7e49ad5aff4af300cd804a6b6279ab3ff3afb64491c85194aab"
    "760d58a606654f9f4400e8b38591356fbf6425aca26dc85244259ff2b19c41b9"
    "f96f3ca9ec1dde434da7d2d392b905ddf3d1f9af93d1af5950bd493f5aa731b4"
    "056df31bd267b6b90a079831aaf579be0a39013137aac6d404f518cfd4684064"
    "7e78bfe706ca4cf5e9c5453e9f7cfd2b8b4c8d169a44e55c88d4a9a7f9474241"
    "e221af44860018ab0856972e194cd934";

/* RFC 9369 A.2: protected v2 client Initial, same plaintext. */
static const char rfc_v2_hex[] =
    "d76b3343cf088394c8f03e5157080000449ea0c95e82ffe67b6abcdb4298b485"
    "dd04de806071bf03dceebfa162e75d6c96058bdbfb127cdfcbf903388e99ad04"
    "9f9a3dd4425ae4d0992cfff18ecf0fdb5a842d09747052f17ac2053d21f57c5d"
    "250f2c4f0e0202b70785b7946e992e58a59ac52dea6774d4f03b55545243cf1a"
    "12834e3f249a78d395e0d18f4d766004f1a2674802a747eaa901c3f10cda5500"
    "cb9122faa9f1df66c392079a1b40f0de1c6054196a11cbea40afb6ef5253cd68"
    "18f6625efce3b6def6ba7e4b37a40f7732e093daa7d52190935b8da58976ff33"
    "12ae50b187c1433c0f028edcc4c2838b6a9bfc226ca4b4530e7a4ccee1bfa2a3"
    "d396ae5a3fb512384b2fdd851f784a65e03f2c4fbe11a53c7777c023462239dd"
    "6f7521a3f6c7d5dd3ec9b3f233773d4b46d23cc375eb198c63301c21801f6520"
    "bcfb7966fc49b393f0061d974a2706df8c4a9449f11d7f3d2dcbb90c6b877045"
    "636e7c0c0fe4eb0f697545460c806910d2c355f1d253bc9d2452aaa549e27a1f"
    "ac7cf4ed77f322e8fa894b6a83810a34b361901751a6f5eb65a0326e07de7c12"
    "16ccce2d0193f958bb3850a833f7ae432b65bc5a53975c155aa4bcb4f7b2c4e5"
    "4df16efaf6ddea94e2c50b4cd1dfe06017e0e9d02900cffe1935e0491d77ffb4"
    "fdf85290fdd893d577b1131a610ef6a5c32b2ee0293617a37cbb08b847741c3b"
    "8017c25ca9052ca1079d8b78aebd47876d330a30f6a8c6d61dd1ab5589329de7"
    "14d19d61370f8149748c72f132f0fc99f34d766c6938597040d8f9e2bb522ff9"
    "9c63a344d6a2ae8aa8e51b7b90a4a806105fcbca31506c446151adfeceb51b91"
    "abfe43960977c87471cf9ad4074d30e10d6a7f03c63bd5d4317f68ff325ba3bd"
    "80bf4dc8b52a0ba031758022eb025cdd770b44d6d6cf0670f4e990b22347a7db"
    "848265e3e5eb72dfe8299ad7481a408322cac55786e52f633b2fb6b614eaed18"
    "d703dd84045a274ae8bfa73379661388d6991fe39b0d93debb41700b41f90a15"
    "c4d526250235ddcd6776fc77bc97e7a417ebcb31600d01e57f32162a8560cacc"
    "7e27a096d37a1a86952ec71bd89a3e9a30a2a26162984d7740f81193e8238e61"
    "f6b5b984d4d3dfa033c1bb7e4f0037febf406d91c0dccf32acf423cfa1e70710"
    "10d3f270121b493ce85054ef58bada42310138fe081adb04e2bd901f2f13458b"
    "3d6758158197107c14ebb193230cd1157380aa79cae1374a7c1e5bbcb80ee23e"
    "06ebfde206bfb0fcbc0edc4ebec309661bdd908d532eb0c6adc38b7ca7331dce"
    "8dfce39ab71e7c32d318d136b6100671a1ae6a6600e3899f31f0eed19e3417d1"
    "34b90c9058f8632c798d4490da4987307cba922d61c39805d072b589bd52fdf1"
    "e86215c2d54e6670e07383a27bbffb5addf47d66aa85a0c6f9f32e59d85a44dd"
    "5d3b22dc2be80919b490437ae4f36a0ae55edf1d0b5cb4e9a3ecabee93dfc6e3"
    "8d209d0fa6536d27a5d6fbb17641cde27525d61093f1b28072d111b2b4ae5f89"
    "d5974ee12e5cf7d5da4d6a31123041f33e61407e76cffcdcfd7e19ba58cf4b53"
    "6f4c4938ae79324dc402894b44faf8afbab35282ab659d13c93f70412e85cb19"
    "9a37ddec600545473cfb5a05e08d0b209973b2172b4d21fb69745a262ccde96b"
    "a18b2faa745b6fe189cf772a9f84cbfc";

/* Chrome capture, ClientHello over 3 Initials, SNI www.google.com
 * (t/unit/data/quic_chrome_3pkt.hex). */
static const char *const chrome_3pkt[] = {
    "ca0000000108e241a0c601413b4f004046006d8f15dae9999edf39d58df67628"
    "22b9a2ab996d7f6a10044338af3b51b1814bc4ac0fa5a87c34c6ae604af8cabc"
    "5957c5240174deefc8e378719ffdab2ae4e15bf4514bea4489ad89c322f75f9a"
    "383c90d126a0b21104cb519c2bb32e6a134e86896452e942b26c519b8c7ac9e4"
    "c99fae5e1f65cf08fb98443b30e4567932e8fb0789820d8f33037b59ac811353"
    "0258c9467dfb52489396dae01f099d28b234efa107fa411f2a1ffa2abe74988e"
    "03d662d4296024e95ce0fe1671724937157f77b84990478a2d4060676cf0827b"
    "4e8c600654111750414dafa0cccb332f3020c2922a015f445df5edc9c7d2d1ce"
    "ea9fddcc9ff821c9183aa39a70da20fcc057579e1051c1c899148d6cf9d08b49"
    "19822082d040d1ce03ca4f216be6cb7ef03db6df0993ef1ccce5c8c648980554"
    "f41704526e1809d2545739f5872e75ec797db1c99f5682e2eda9363cb32aa367"
    "b7b363c782ddbacf874183cc15c8a2db068dd4093eebdd096ad33832a7939deb"
    "0a872279744f5a56dc001ba62fac973bf680f3b362bdd336add4dd102f462b77"
    "3bf70bfce1921070a802a92025273a177186d1a643081b42175eb789ccddadb7"
    "1033ef4feacbf6fd282ab622cf61669d73cda559e411c6ccdd8f003443b6933b"
    "7729b7a357aa4aa2fba0f365f829a4d497afb5dc2648a53bc9f3e786d955069d"
    "0a4781088a5463747dfe9958ea19ea444eae947ec6a67640955f710f93640084"
    "f3fbb8ad259b68dbc0ee0b7fab2d81bffd83ed8a6d33522dbfef43bec0a0fb4b"
    "df1cb712dc4ced0680c0687fa240fd157baa232b1c84e14adce6421cf9270f9b"
    "3972f98fc67b344b8a4f1fb551e26f7f76d484ed9f8197f231dc5d9a44cc0ddc"
    "e73d7f810a620851f4e97eb5037ab5135d7c3be5b80cc32d19910b8387aca64c"
    "93c02dc3e35238b78e6aff470722078982e58802844932b6041446bfdcc97ba6"
    "40cbb86721bcd0f40f27b77aa6287ce5674ec1720134b9302875482c3269787e"
    "004b9edb483d44f326eef38c0e83cb46af96488c2e696bc2524567fb29c1e8ed"
    "cd5a73615496d172d46a9d29e0505c0018b7bbb00165eca0389e09c4b1d73b6c"
    "c4a2f735a720650134a2e98e8105e20695cf231b92586237dfe0f99c897414e5"
    "1c21627496276535f07abb53fb2b554376fe520fa45a3e944fd91dfe7a72aead"
    "08842b6b63d8edf861fb911954c83bd9a896eb9da4af5eff646455069d747fac"
    "d4e77c254096843bff7c3e9031dbdf8dc37ea45f1122922fcbc322ec1378f3c7"
    "c1af0da62e1052e6210f1b23073f93a82d90e14cb20bc4501d487a1c848674d5"
    "7a7c269b13590b3a99d8b8b4f6d0dfbd1d2cbbe7a32c0d5c84ae7ec438b0b19f"
    "3862d8fabaa828d06c7e3c6967405cd56a1ae90f38633e2ee0e3ecfca3df399f"
    "e12f029e0860a1a30da010300d0c94f0bf56091d00011488c1429928b21c739e"
    "bf50ba8be91116315d3173f6d2c56735722478c4d74392ba84d1727036b3d64e"
    "8c2263b0f33cb8086be587ca6b3940259c06afa2683868856529303ae12e91d7"
    "ca874568be7f2bfaa0656dfab0ed31ed90eaea10fb7f3433ec59a334abe6211d"
    "547fa0c825ac45d3691e749d15432008de83e9f6d98f368359137ae803d9189b"
    "3386f800c7c0cf4b615d1983cf82d9981a8105b60a80fe66c9b0d439b5ba153d"
    "d19e9e7483a01cf3b02b4597540b38e658d4eb8455e030b2bf2690bdd78c23f1"
    "6fe5",
    "cc0000000108e241a0c601413b4f004046006d8f15dae9999edf39d58df67628"
    "22b9a2ab996d7f6a10044338af3b51b1814bc4ac0fa5a87c34c6ae604af8cabc"
    "5957c5240174deefc8e378719ffdab2ae4e15bf4514bea44894b626c685cd5d5"
    "c965f7e97b3a1bdc520b75813e747f37a3ae83ad38b9ca2acb0de4fc9424839a"
    "50c8fb815a62b498609fbbc59145698860e0509cc08a04d1b119daef844ba2f0"
    "9c16e2665e5cc0b47624b71f7b950c54fd56b4a1fbb826cba44eeeee3949ced8"
    "f5de60d4c81b19ee59f75aa1abb33f22c6b13c27095eb1e99cff01fdc93e6e88"
    "da2622ee18c08a79f508befd7e33e99bca60e64bef9a47b764384bd93823daee"
    "b6fcb4d7cfbc4ab53eff59b3636f6dcaaf229b5a94941b5712807166b9bd5e82"
    "cb4a9708a71451c4cd6f6e33fb2fe40c8c70dd51a30b37ff9c5e35783debde00"
    "93fde19ce074b4887b3c90980b107b9c0f32cf61a66f37c251b789abc4d27fc4"
    "21207966846c8cc7faa42d9af6ad355a6bc94cb78223b612be8b3e2a4df61fee"
    "83a674a0ceb8b7c3a29b97102cda22fecdf6a4628e5b612bc17eab64d6f75fee"
    "dd0b106c0419e484e66725759964cb5935ac5125e5ae920cd280bd40df57c1d7"
    "ae1845700bd4eb7b7ab12bc0850950bfe6e69edd6ac1daa5db2c2b0748432719"
    "6e561c513462d72872dc6771c39f6b60d46a1f2c92343b7338450a0ef8e39f97"
    "fa70652b3a12cd04043698951627aaaa82cc95e76df92021d30e8014c984f12e"
    "ea0143de8b17e5e4a36ec07bf4814251b391f168a59ef75afcd2319249aaba93"
    "0f06bb7a11b9491e6f71b3d5774a6503a965e94edd0a67737282fc9cb0271779"
    "ff14151b7aa9267bb8f7d643185512515aeea513c0c98bfae782381a33170641"
    "95d8825cf8b25c17cdab5fced02612a3f2870e40df57e6ca3f08228a2b04e8de"
    "1425eb4b970118f9bbdc212223ff86a5d6b648cdf2366722f21de4b14a101487"
    "9eadb69215cdb1aa2a9f4f310ecfe3116214fe3ab0a23f4775a0a54b48d7dfd8"
    "f7283ed687b3ac7e1a7e42a0bdc3478aba8651c03e1e9cc9df17d106b8130afe"
    "854269b0103b7a696f452721887b19d8181830073c9f10684c65f96d3a6c6efb"
    "ae044eec03d6399e001fa44d54635dc72f9b8ea6b87d0f452cad1e1e32273e2b"
    "47c40f2730235adcae8523b8282f86b8cf1ab63ae54aaa06130df3bbf6ecac7d"
    "7d1d43d2a87aea837267ff8ccfaa4b7e47b7ded909e6603d0b928a304f8915c8"
    "39153598adc4178eb48bc0e98ad7793d7980275e1e491ba4847a4a04ae30fe7f"
    "5cc7d4b6f4f63a525e9964d72245860ca76a668a4654adb6619f16e9db79131e"
    "5675b93cafb96c92f1da8464d4fef2a22e7f9db695965fe2cc27ea30974629c8"
    "fe17cfa2f860179e1eb9faaa88a91ec9ce6da28c1a2894c3b932b5e1c8071467"
    "18cc77ca13c61eaae00c7c99e019f599772064b198c5c2c5e863336367673630"
    "b417ac845ddb7c93b0856317e5d64bab208c5730abc2c63536784fbeaaec139d"
    "ffc917e775715f1e42164ddef5138d4d163609ab3fbdcab968f8738385c0e7e3"
    "4ff3cf7771a1dc5ba25a8850fdf96dabafa21f9065f307457ce9af4b7a73450c"
    "9d20a3b46fa8d3a1163d22bd01a7d17f0ec274181bf9640fa941427694bfeb13"
    "46089f7a851efe0fbb7a2041fa6bb6541ccbad77dd3e1a97999fc05f1fef070e"
    "7b5c4b385b8b2a8cc32483fdeba6a373970de2fa4139ba18e5916f949aab0aab"
    "2894",
    "c20000000108e241a0c601413b4f004046006d8f15dae9999edf39d58df67628"
    "22b9a2ab996d7f6a10044338af3b51b1814bc4ac0fa5a87c34c6ae604af8cabc"
    "5957c5240174deefc8e378719ffdab2ae4e15bf4514bea4489e2ff30c43a5f63"
    "beb2e4501ce7754085bcbe838003a0b4bccb53863c0766df7eac073c2bdc1707"
    "72b157997945acdc2ab2e84750cc9aa0ffa0fdc023da7fc565a14f87f7c563db"
    "c9183dd226aab79957d263f66e64b85a1b15a24516bd2c7c04eea4fa0a34ef98"
    "49c21585db2e4adb7c05e265c4f38d8ffe4cbed0f3b0e68f3693bf1f726c3fb1"
    "35b8e32a5d22931d7c55fc2ff4b9a354933ab14544df3cdaf3e3217dfb8d7feb"
    "3465dc34df6320ea486f12e5b2d609aaa5f4515c20c86fc440f8087be0ee3d33"
    "9835746ae2573c2afdee6bb6ef7e9eb541feae9209391b2902cfb0bdaccd9da8"
    "d290714638b7da588d4a656ca6eabba78b7363922d6037cf060b161a42019d4f"
    "eb4156459103cffdeefd0e63114af2b0e0c39e70ebc7fecb8dd1ebb8d60b2137"
    "f509bb7dcef5f1d3e06ab1d391466652d57440a410fb4f58a6ce1fb62feb4532"
    "41f64e110709f59a3d9ebdac94f811337d0e4a80fd6b56b2a70cd6eebbf98e16"
    "61291da6bf5beb8b8afc376dfd20eb76afe709e8e8f28e0ef82105954e346546"
    "ad25973df43f4acddbec0ffd9b215f62abebebf71305b5ea993560316f69430b"
    "f5afe50420340622f802b5830f3bcebffff04980c75a59d28902879e5d51a4fb"
    "21062a4ae13c42297075b21d54ee04303879c1157e7470c1451673c98a2f3921"
    "f2f3e8f6acfe85b01caaca66b59e5ebffbfe68e5e9ab17e9a1b857eb409df91c"
    "b76767fc1814fd3c522a9b117edd0b02526e469cb4afb291a4dcc74c79b47ec6"
    "e7ce558c597129366f83ec306b11d2598c705fd4ee9ee99df6b7039bef13b08f"
    "c6f26853ad213829d24f895747d45a47414f931c583fb6c3e4f6c27d0c2b81a5"
    "f3cee390ec6314e1fec637e8d28b675e97caafdfbf8c25d34a635083a7553d21"
    "9dd80dbb39087d74c6ad6192ca6f48a3ff8d47db41b2a492c63fcd7800127809"
    "31dae0a325f9dcbd772d09a700f132c4bc1d9809b25b9751b694eb72a8ba4db7"
    "208d2b1bab63e1845208e4f841ea30218a559db98751589716b6d059ca673378"
    "f5fe7c7d8a1c82e14a561c47313bbcc278412ba86ffb2b87ec308eab9df696f5"
    "b4b54f8e361731bf232820a02a35fda7e5d4bf01b8f005ad299a055116e7b23c"
    "181f15a66442cf6032ca477bccc55b79d424eb4f245847bd81a581dc369dd20b"
    "1a4892733bde3c38e492c0039f69f2b947a4dc251a49ee7ccc0f36b3b75a555f"
    "a1d126db75f94dab60f52f6b15a877a0c380b59f82d35c570bc5f8051e9ef87d"
    "b51f52383d47b50829b7f9e947ccc67aa280566aa48b4a85c1c7eca6f542789d"
    "8abcc050f1aa3cc221b6859656a21454aa21c7bfb9d12115f61c3ed46263ade6"
    "8a8d3679fa62a659a5da7817406bd16618fccf33ed208ada1b03584e8b485d3c"
    "b6ed80a0774e60b6cd55aff64169ea998cf8235997049515abac58e0169ca07f"
    "b1c8c4c8b2803ba9d27b44c045d0a1cac86e5e188195c68001f53eb44851b6d8"
    "21fc01ccbb41e27f38e6ddd66540c2d62ed6e0d551e22c0f26b60078c74a6302"
    "a1ed3d9e8fc0861257a63f6ac4e759fd54bff088becd28e30944a6c15db4fc8a"
    "e6244346869add946d9d92c430d737e042fa18b28a8ed64d1e8987ad9061cdc1"
    "335f",
};

/* Chromium capture, ClientHello over 2 Initials, SNI google.com
 * (t/unit/data/quic_chromium_2pkt.hex). */
static const char *const chromium_2pkt[] = {
    "c30000000108f40d654cc09b27f5000044d08a94548e57e43cc5483f12998618"
    "7c432d58d46674830442988f869566a6e31e2ae37c9f7acbf61cc81621594fab"
    "0b3dfdc1635460b32389563dc8e74006315661cd22694114612973c1c4591062"
    "1713a48b375854f095e8a77ccf3afa64e972f0f7f7002f50e0b014b1b146ea47"
    "c07fb20b73ad5587872b51a0b3fafdf1c4cf4fe6f8b112142392efa25d993abe"
    "2f42582be145148bdfe12edcd96c3655b65a4781b093e5594ba8e3ae5320f12e"
    "8314fc3ca374128cc43381046c322b964681ed4395c813b28534505118201459"
    "665a44b8f0abead877de322e9040631d20b05f15b81fa7ff785d4041aecc37c7"
    "e2ccdc5d1532787ce566517e8985fd5c200dbfd1e67bc255efaba94cfc07bb52"
    "fea4a90887413b134f2715b5643542aa897c6116486f428d82da64d2a2c1e1bd"
    "d40bd592558901a554b003d6966ac5a7b8b9413eddbf6ef21f28386c74981e3c"
    "e1d724c341e95494907626659692720c81114ca4acea35a14c402cfa3dc22284"
    "46e78dc1b81fa4325cf7e314a9cad6a6bdff33b3351dcba74eb15fae67f12272"
    "83aa4cdd64bcadf8f19358333f8549b596f4350297b5c65274565869d4973983"
    "39947b9d3d064e5b06d39d34b436d8a41c1a3880de10bd26c3b1c5b4e2a49b0d"
    "4d07b8d90cd9e92bc611564d19ea8ec33099e92033caf21f5307dbeaa4708b99"
    "eb313bff99e2081ac25fd12d6a72e8335e0724f6718fe023cd0ad0d6e6a6309f"
    "09c9c391eec2bc08e9c3210a043c08e1759f354c121f6517fff4d6e20711a871"
    "e41285d48d930352fddffb92c96ba57df045ce99f8bfdfa8edc0969ce68a51e9"
    "fbb4f54b956d9df74a9e4af27ed2b27839bce1cffeca8333c0aaee81a5702174"
    "42f9029ba8fedb84a2cf4be4d910982d891ea00e816c7fb98e8020e896a9c6fd"
    "d9106611da0a99dde18df1b7a8f6327acb1eed9ad93314451e48cb0dfb957172"
    "8521ca3db2ac0968159d5622556a55d51a422d11995b650949aaefc5d24c1608"
    "0446dfc4fbc10353f9f93ce161ab513367bb89ab83988e0630b689e174e27bcf"
    "cc31996ee7b0bca909e251b82d69a28fee5a5d662e127508cd19dbbe5097b7d5"
    "b62a49203d66764197a527e472e2627e44a93d44177dace9d60e7d0e03305ddf"
    "4cfe47cdf2362e14de79ef46a6763ce696cd7854a48d9419a0817507a4713ffd"
    "4977b906d4f2b5fb6dbe1bd15bc505d5fea582190bf531a45d5ee026da891854"
    "7fd5105f15e5d061c7b0cf80a34990366ed8e91e13c2f0d85e5dad537298808d"
    "193cf54b7eaac33f10051f74cb6b75e52f81618c36f03d86aef613ba237a1a79"
    "3ba1539938a38f62ccaf7bd5f6c5e0ce53cde4012fcf2b758214a0422d2faaa7"
    "98e86e19d7481b42df2b36a73d287ff28c20cce01ce598771fec16a8f1f00305"
    "c06010126013a6c1de9f589b4e79d693717cd88ad1c42a2d99fa96617ba0bc63"
    "65b68e21a70ebc447904aa27979e1514433cfd83bfec09f137c747d47582cb63"
    "eb28f873fb94cf7a59ff764ddfbb687d79a58bb10f85949269f7f72c611a5e0f"
    "bb52adfa298ff060ec2eb7216fd7302ea8fb07798cbb3be25cb53ac8161aac2b"
    "5bbcfbcfb01c113d28bd1cb0333fb89ac82a95930f7abded0a2f5a623cc6a1f6"
    "2bf3f38ef1b81c1e50a634f657dbb6770e4af45879e2fb1e00c742e7b52205c8"
    "015b5c0f5b1e40186ff9aa7288ab3e01a51fb87761f9bc6837082af109b39cc9"
    "f620",
    "c90000000108f40d654cc09b27f5000044d073eb38807026d4088455e650e7cc"
    "f750d01a72f15f9bfc8ff40d223499db1a485cff14dbd45b9be118172834dc35"
    "dca3cf62f61a1266f40b92faf3d28d67a466cfdca678ddced15cd606d31959cf"
    "441828467857b226d1a241847c82c57312cefe68ba5042d929919bcd4403b39e"
    "5699fe87dda05df1b3801e048edee792458e9b1a9b1d4039df05847bcee3be56"
    "7494b5876e3bd4c3220fe9dfdb2c07d77410f907f744251ef15536cc03b267d3"
    "668d5b75bc1ad2fe735cd3bb73519dd9f1625a49e17ad27bdeccf706c83b5ea3"
    "39a0a05dd0072f4a8f162bd29926b4997f05613c6e4b0270b0c02805ca0543f2"
    "7c1ff8505a5750bdd33529ee73c491050a10c6903f53c1121dbe0380e84c007c"
    "8df74a1b02443ed80ba7766aef5549e618d4fd249844ee285651420053698692"
    "99e8c3035ecef3d799f6cada8549e75b4ce4cbf4c85ef071fd7ff067b1ca9b59"
    "68dc41d13d011f6d7843823bac97acb1eb8ee45883f0f254b5f9bd4c763b67e2"
    "d8c70a7618a0ef0de304cf597a485126e09f8b2fd795b394c0b4bc4cd2634c20"
    "57970da2c798c5e8af7aed4f76f5e25d04e3f8c9c5a5b150d17e0d4c74229898"
    "c69b8dc7b8bcc9d359eb441de75c68fbdebec62fb669dcccfb1aad03e3fa073a"
    "db2ccf7bb14cbaf99e307d2c903ee71a8f028102eb510caee7e7397512086a78"
    "d1f95635c7d06845b5a708652dc4e5cd61245aae5b3c05b84815d84d367bce9b"
    "9e3f6d6b90701ac3679233c14d5ce2a1eff26469c966266dc6284bdb95c9c615"
    "8934c413a872ce22101e4163e3293d236b301592ca4ccacc1fd4c37066e79c2d"
    "9857c8a2560dcf0b33b19163c4240c471b19907476e7e25c65f7eb37276594a0"
    "f6b4c33c340cc3284178f17ac5e34dbe7509db890e4ddfd0540fbf9deb32a010"
    "1d24fe58b26c5f81c627db9d6ae59d7a111a3d5d1f6109f4eec0d0234e6d73c7"
    "3a44f50999462724b51ce0fd8283535d70d9e83872c79c59897407a073674101"
    "1ae5c64862eb0712f9e7b07aa1d5418ca3fde8626257c6fe418f3c5479055bb2"
    "b0ab4c25f649923fc2a41c79aaa7d0f3af6d8b8cf06f61f0230d09bbb60bb49b"
    "9e49cc5973748a6cf7ffdee7804d424f9423c63e7ff22f4bd24e4867636ef9fe"
    "8dd37f59941a8a47c27765caa8e875a30b62834f17c569227e5e6ed15d58e05d"
    "36e76332befad065a2cd4079e66d5af189b0337624c89b1560c3b1b0befd5c1f"
    "20e6de8e3d664b3ac06b3d154b488983e14aa93266f5f8b621d2a9bb7ccce509"
    "eb26e025c9c45f7cccc09ce85b3103af0c93ce9822f82ecb168ca3177829afb2"
    "ea0da2c380e7b1728add55a5d42632e2290363d4cbe432b67e13691648e1acfa"
    "b22cf0d551eee857709b428bb78e27a45aff6eca301c02e4d13cf36cc2494fdd"
    "1aef8dede6e18febd79dca4c6964d09b91c25a08f0947c76ab5104de9404459c"
    "2edf5f4adb9dfd771be83656f77fbbafb1ad3281717066010be8778952495383"
    "c9f2cf0a38527228c662a35171c5981731f1af09bab842fe6c3162ad4152a422"
    "1f560eb6f9bea66b294ffbd3643da2fe34096da13c246505452540177a2a0a1a"
    "69106e5cfc279a4890fc3be2952f26be245f930e6c2d9e7e26ee960481e72b99"
    "594a1185b46b94b6436d00ba6c70ffe135d43907c92c6f1c09fb9453f1037307"
    "14f5700fa4347f9715c774cb04a7218dacc66d9c2fade18b14e684aa7fc9ebda"
    "0a28",
};

/* One packet for the test sealer. */
struct qpkt {
    uint32_t        version;
    unsigned        type;       /* v1 numbering: 0 Initial, 1 0-RTT, 2 HS */
    const uint8_t  *dcid;
    size_t          dcid_len;
    uint32_t        pn;
    size_t          pn_len;
};

static size_t
unhex(const char *hex, uint8_t *out, size_t cap)
{
    size_t          n = 0;
    unsigned int    b;

    while (hex[0] != '\0' && hex[1] != '\0' && n < cap) {
        if (sscanf(hex, "%2x", &b) != 1) {
            break;
        }
        out[n++] = (uint8_t) b;
        hex += 2;
    }
    return n;
}

static void
ck_hex(const uint8_t *p, size_t n, const char *hex)
{
    uint8_t     want[64];

    ck_assert_uint_eq(unhex(hex, want, sizeof(want)), n);
    ck_assert_mem_eq(p, want, n);
}

static size_t
put16(uint8_t *p, size_t v)
{
    p[0] = (uint8_t) (v >> 8);
    p[1] = (uint8_t) v;
    return 2;
}

static size_t
put_varint(uint8_t *p, uint64_t v)
{
    if (v < 64) {
        p[0] = (uint8_t) v;
        return 1;
    }
    if (v < 16384) {
        return put16(p, 0x4000 | v);
    }
    p[0] = (uint8_t) (0x80 | v >> 24);
    p[1] = (uint8_t) (v >> 16);
    p[2] = (uint8_t) (v >> 8);
    p[3] = (uint8_t) v;
    return 4;
}

static size_t
crypto_frame(uint8_t *out, size_t off, const uint8_t *data, size_t len)
{
    size_t  n = 0;

    out[n++] = 0x06;
    n += put_varint(out + n, off);
    n += put_varint(out + n, len);
    memcpy(out + n, data + off, len);
    return n + len;
}

/* TLS 1.3 ClientHello message with SNI and a ks_len-byte ML-KEM share. */
static size_t
build_hello(uint8_t *out, const char *sni, size_t ks_len)
{
    size_t  n = 4, ext, sl = strlen(sni), i;

    n += put16(out + n, 0x0303);
    memset(out + n, 0x5a, 32 + 1 + 32);
    out[n + 32] = 32;
    n += 32 + 1 + 32;
    n += put16(out + n, 2);
    n += put16(out + n, 0x1301);
    out[n++] = 1;
    out[n++] = 0;
    ext = n;
    n += 2;
    n += put16(out + n, 0);
    n += put16(out + n, sl + 5);
    n += put16(out + n, sl + 3);
    out[n++] = 0;
    n += put16(out + n, sl);
    memcpy(out + n, sni, sl);
    n += sl;
    n += put16(out + n, 51);
    n += put16(out + n, ks_len + 6);
    n += put16(out + n, ks_len + 4);
    n += put16(out + n, 0x11ec);
    n += put16(out + n, ks_len);
    for (i = 0; i < ks_len; i++) {
        out[n++] = (uint8_t) (i * 13);
    }
    put16(out + ext, n - ext - 2);
    out[0] = 1;
    out[1] = (uint8_t) ((n - 4) >> 16);
    out[2] = (uint8_t) ((n - 4) >> 8);
    out[3] = (uint8_t) (n - 4);
    return n;
}

/*
 * Test-only sealer: protect `payload` as a long-header packet (RFC 9001
 * §5.3-5.4) with the client Initial keys of q->version and q->dcid.
 */
static size_t
seal(const struct qpkt *q, const uint8_t *payload, size_t plen, uint8_t *out)
{
    uint8_t          key[16], iv[12], hp[16], nonce[12], mask[16];
    size_t           n = 0, pn_off, i;
    unsigned         bits = q->version == V2 ? (q->type + 1) & 3 : q->type;
    EVP_CIPHER_CTX  *ctx = EVP_CIPHER_CTX_new();
    int              l;

    ck_assert_int_eq(sniff_quic_initial_keys(q->version, q->dcid,
        q->dcid_len, key, iv, hp), 0);
    out[n++] = (uint8_t) (0xc0 | bits << 4 | (q->pn_len - 1));
    for (i = 0; i < 4; i++) {
        out[n++] = (uint8_t) (q->version >> (24 - 8 * i));
    }
    out[n++] = (uint8_t) q->dcid_len;
    memcpy(out + n, q->dcid, q->dcid_len);
    n += q->dcid_len;
    out[n++] = 0;                                   /* SCID */
    if (q->type == 0) {
        out[n++] = 0;                               /* token */
    }
    n += put16(out + n, 0x4000 | (q->pn_len + plen + 16));
    pn_off = n;
    for (i = 0; i < q->pn_len; i++) {
        out[n++] = (uint8_t) (q->pn >> (8 * (q->pn_len - 1 - i)));
    }
    memcpy(nonce, iv, 12);
    for (i = 0; i < 4; i++) {
        nonce[11 - i] ^= (uint8_t) (q->pn >> (8 * i));
    }
    ck_assert(EVP_EncryptInit_ex(ctx, EVP_aes_128_gcm(), NULL, key, nonce));
    ck_assert(EVP_EncryptUpdate(ctx, NULL, &l, out, (int) n));
    ck_assert(EVP_EncryptUpdate(ctx, out + n, &l, payload, (int) plen));
    ck_assert(EVP_EncryptFinal_ex(ctx, out + n + l, &l));
    ck_assert(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16,
        out + n + plen));
    n += plen + 16;
    ck_assert(EVP_EncryptInit_ex(ctx, EVP_aes_128_ecb(), NULL, hp, NULL));
    ck_assert(EVP_EncryptUpdate(ctx, mask, &l, out + pn_off + 4, 16));
    EVP_CIPHER_CTX_free(ctx);
    out[0] ^= mask[0] & 0x0f;
    for (i = 0; i < q->pn_len; i++) {
        out[pn_off + i] ^= mask[1 + i];
    }
    return n;
}

/* A v1 Initial carrying `frames`, zero-padded to a 1200-byte datagram. */
static size_t
seal_padded(uint32_t version, uint32_t pn, const uint8_t *frames, size_t fl,
    uint8_t *out)
{
    static const uint8_t    dcid[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
    struct qpkt             q = { version, 0, dcid, 8, pn, 2 };
    uint8_t                 payload[1400];
    size_t                  plen = 1200 - (1 + 4 + 1 + 8 + 1 + 1 + 2 + 2 + 16);

    ck_assert_uint_le(fl, plen);
    memcpy(payload, frames, fl);
    memset(payload + fl, 0, plen - fl);
    return seal(&q, payload, plen, out);
}

static enum tp_sniff_rc
feed1(const uint8_t *d, size_t n, struct tp_sniff_result *r)
{
    struct sniff_quic_state *st = sniff_quic_new();
    enum tp_sniff_rc         rc;

    ck_assert_ptr_nonnull(st);
    rc = sniff_quic_feed(st, d, n, r);
    sniff_quic_free(st);
    return rc;
}

START_TEST(test_varint)
{
    static const struct {
        const char  *hex;
        size_t       n;
        uint64_t     v;
    } vec[] = {
        { "25", 1, 37 }, { "7bbd", 2, 15293 }, { "9d7f3e7d", 4, 494878333 },
        { "40f1", 2, 241 }, { "4025", 2, 37 },
        { "c2197c5eff14e88c", 8, 151288809941952652ull },
    };
    uint8_t     b[8];
    uint64_t    v;
    size_t      i, n;

    for (i = 0; i < nitems(vec); i++) {
        n = unhex(vec[i].hex, b, sizeof(b));
        ck_assert_uint_eq(sniff_quic_varint(b, n, &v), vec[i].n);
        ck_assert_uint_eq(v, vec[i].v);
        ck_assert_uint_eq(sniff_quic_varint(b, n - 1, &v), 0);
    }
}
END_TEST

START_TEST(test_initial_keys)
{
    uint8_t     key[16], iv[12], hp[16];

    ck_assert_int_eq(sniff_quic_initial_keys(V1, rfc_dcid, 8, key, iv, hp),
        0);
    ck_hex(key, 16, "1f369613dd76d5467730efcbe3b1a22d");
    ck_hex(iv, 12, "fa044b2f42a3fd3b46fb255c");
    ck_hex(hp, 16, "9f50449e04a0e810283a1e9933adedd2");
    ck_assert_int_eq(sniff_quic_initial_keys(V2, rfc_dcid, 8, key, iv, hp),
        0);
    ck_hex(key, 16, "8b1a0bc121284290a29e0971b5cd045d");
    ck_hex(iv, 12, "91f73e2351d8fa91660e909f");
    ck_hex(hp, 16, "45b95e15235d6f45a6b19cbcb0294ba9");
    ck_assert_int_eq(sniff_quic_initial_keys(DRAFT29, rfc_dcid, 8, key, iv,
        hp), 0);
    ck_assert_int_eq(sniff_quic_initial_keys(0x0a0a0a0a, rfc_dcid, 8, key,
        iv, hp), -1);
    ck_assert_int_eq(sniff_quic_initial_keys(0, rfc_dcid, 8, key, iv, hp),
        -1);
}
END_TEST

static void
check_rfc_packet(const char *hex)
{
    uint8_t                  d[1300], copy[1300];
    size_t                   n = unhex(hex, d, sizeof(d));
    struct tp_sniff_result   r;

    ck_assert_uint_eq(n, 1200);
    memcpy(copy, d, n);
    ck_assert_int_eq(feed1(d, n, &r), TP_SNIFF_FOUND);
    ck_assert_str_eq(r.proto, "quic");
    ck_assert_str_eq(r.host, "example.com");
    ck_assert_uint_eq(r.port, 0);
    ck_assert_uint_eq(r.ech, 0);
    ck_assert_mem_eq(d, copy, n);
}

START_TEST(test_rfc_v1_packet)
{
    check_rfc_packet(rfc_v1_hex);
}
END_TEST

START_TEST(test_rfc_v2_packet)
{
    check_rfc_packet(rfc_v2_hex);
}
END_TEST

/* The sealer reproduces the RFC packets, so its other output is valid. */
START_TEST(test_sealer_matches_rfc)
{
    uint8_t         payload[1162], out[1300], want[1300], hello[300];
    size_t          hl = unhex(rfc_hello_hex, hello, sizeof(hello)), n;
    struct qpkt     q = { V1, 0, rfc_dcid, 8, 2, 4 };

    ck_assert_uint_eq(hl, 241);
    memset(payload, 0, sizeof(payload));
    n = crypto_frame(payload, 0, hello, hl);
    ck_assert_uint_eq(n, 4 + 241);
    ck_assert_uint_eq(seal(&q, payload, sizeof(payload), out), 1200);
    ck_assert_uint_eq(unhex(rfc_v1_hex, want, sizeof(want)), 1200);
    ck_assert_mem_eq(out, want, 1200);
    q.version = V2;
    ck_assert_uint_eq(seal(&q, payload, sizeof(payload), out), 1200);
    ck_assert_uint_eq(unhex(rfc_v2_hex, want, sizeof(want)), 1200);
    ck_assert_mem_eq(out, want, 1200);
}
END_TEST

/* Feed captured datagrams in the order given by idx; the last gives host. */
static void
check_capture(const char *const *pkts, const size_t *idx, size_t n,
    const char *host)
{
    struct sniff_quic_state *st = sniff_quic_new();
    struct tp_sniff_result   r;
    uint8_t                  d[1500];
    size_t                   i, len;

    for (i = 0; i < n; i++) {
        len = unhex(pkts[idx[i]], d, sizeof(d));
        ck_assert_uint_eq(len, 1250);
        ck_assert_int_eq(sniff_quic_feed(st, d, len, &r),
            i + 1 < n ? TP_SNIFF_AGAIN : TP_SNIFF_FOUND);
        ck_assert_str_eq(r.proto, "quic");
    }
    ck_assert_str_eq(r.host, host);
    ck_assert_uint_eq(r.ech, 1);                    /* GREASE ECH */
    sniff_quic_free(st);
}

START_TEST(test_chrome_capture)
{
    static const size_t orders[6][3] = { { 0, 1, 2 }, { 0, 2, 1 },
        { 1, 0, 2 }, { 1, 2, 0 }, { 2, 0, 1 }, { 2, 1, 0 } };
    static const size_t two[2][2] = { { 0, 1 }, { 1, 0 } };
    size_t              i;

    for (i = 0; i < 6; i++) {
        check_capture(chrome_3pkt, orders[i], 3, "www.google.com");
    }
    for (i = 0; i < 2; i++) {
        check_capture(chromium_2pkt, two[i], 2, "google.com");
    }
}
END_TEST

/* A post-quantum ClientHello over two Initials, second one first. */
START_TEST(test_split_out_of_order)
{
    uint8_t                  hello[2048], fr[1300], a[1300], b[1300];
    size_t                   hl = build_hello(hello, "www.example.org", 1216);
    size_t                   na, nb, k = 1000;
    struct sniff_quic_state *st = sniff_quic_new();
    struct tp_sniff_result   r;

    ck_assert_uint_gt(hl, 1200);
    na = seal_padded(V1, 1, fr, crypto_frame(fr, 0, hello, k), a);
    nb = seal_padded(V1, 2, fr, crypto_frame(fr, k, hello, hl - k), b);
    ck_assert_int_eq(sniff_quic_feed(st, b, nb, &r), TP_SNIFF_AGAIN);
    ck_assert_str_eq(r.proto, "quic");
    ck_assert_str_eq(r.host, "");
    ck_assert_int_eq(sniff_quic_feed(st, a, na, &r), TP_SNIFF_FOUND);
    ck_assert_str_eq(r.proto, "quic");
    ck_assert_str_eq(r.host, "www.example.org");
    /* The answer sticks, whatever comes next. */
    ck_assert_int_eq(sniff_quic_feed(st, (const uint8_t *) "x", 1, &r),
        TP_SNIFF_FOUND);
    ck_assert_str_eq(r.host, "www.example.org");
    sniff_quic_free(st);
    /* In order, v2, with a garbage datagram in between. */
    st = sniff_quic_new();
    na = seal_padded(V2, 1, fr, crypto_frame(fr, 0, hello, k), a);
    nb = seal_padded(V2, 2, fr, crypto_frame(fr, k, hello, hl - k), b);
    ck_assert_int_eq(sniff_quic_feed(st, a, na, &r), TP_SNIFF_AGAIN);
    ck_assert_int_eq(sniff_quic_feed(st, (const uint8_t *) "\x40zz", 3, &r),
        TP_SNIFF_AGAIN);
    ck_assert_int_eq(sniff_quic_feed(st, b, nb, &r), TP_SNIFF_FOUND);
    ck_assert_str_eq(r.host, "www.example.org");
    sniff_quic_free(st);
}
END_TEST

/* Chrome-style chaos protection: shuffled, overlapping CRYPTO + PING. */
START_TEST(test_chaos_frames)
{
    uint8_t                  hello[600], fr[1300], d[1300];
    size_t                   hl = build_hello(hello, "chaos.example", 200);
    size_t                   n = 0;
    struct tp_sniff_result   r;

    ck_assert_uint_gt(hl, 300);
    fr[n++] = 0x01;
    n += crypto_frame(fr + n, 150, hello, 100);
    memset(fr + n, 0, 5);
    n += 5;
    n += crypto_frame(fr + n, 0, hello, 160);
    fr[n++] = 0x01;
    n += crypto_frame(fr + n, 240, hello, hl - 240);
    n += crypto_frame(fr + n, 0, hello, 10);
    n += crypto_frame(fr + n, 100, hello, 200);
    ck_assert_int_eq(feed1(d, seal_padded(V1, 1, fr, n, d), &r),
        TP_SNIFF_FOUND);
    ck_assert_str_eq(r.host, "chaos.example");
}
END_TEST

/* Two Initials and a 0-RTT packet coalesced in one datagram, then padding. */
START_TEST(test_coalesced)
{
    static const uint8_t     dcid[8] = { 9, 9, 9, 9, 9, 9, 9, 9 };
    uint8_t                  hello[600], fr[600], d[2000];
    size_t                   hl = build_hello(hello, "co.example", 100);
    size_t                   n = 0, f;
    struct qpkt              q = { V1, 0, dcid, 8, 0, 1 };
    struct tp_sniff_result   r;

    f = crypto_frame(fr, 100, hello, hl - 100);
    n += seal(&q, fr, f, d + n);
    q.pn = 1;
    q.pn_len = 3;
    f = crypto_frame(fr, 0, hello, 100);
    n += seal(&q, fr, f, d + n);
    q.type = 1;                                     /* 0-RTT, skipped */
    memset(fr, 0xee, 40);
    n += seal(&q, fr, 40, d + n);
    memset(d + n, 0, 1200 - n);
    ck_assert_int_eq(feed1(d, 1200, &r), TP_SNIFF_FOUND);
    ck_assert_str_eq(r.host, "co.example");
    /* A second packet with another DCID is ignored (RFC 9000 §12.2). */
    q.type = 0;
    memset(fr, 0, 40);
    fr[0] = 0x01;
    n = seal(&q, fr, 40, d);
    f = crypto_frame(fr, 0, hello, hl);
    q.dcid = (const uint8_t *) "otherdcid";
    q.dcid_len = 9;
    n += seal(&q, fr, f, d + n);
    ck_assert_int_eq(feed1(d, n, &r), TP_SNIFF_AGAIN);
    ck_assert_str_eq(r.proto, "quic");
}
END_TEST

START_TEST(test_ack_and_close_frames)
{
    uint8_t                  hello[600], fr[1300], d[1300];
    size_t                   hl = build_hello(hello, "frames.example", 64);
    size_t                   n = 0;
    struct qpkt              q = { V1, 0, rfc_dcid, 8, 0, 1 };
    struct tp_sniff_result   r;

    memcpy(fr + n, "\x02\x05\x00\x01\x00\x00\x01", 7);          /* ACK */
    n += 7;
    memcpy(fr + n, "\x03\x40\x45\x00\x01\x00\x00\x01\x02\x03\x04", 11);
    n += 11;                                                    /* ACK_ECN */
    memcpy(fr + n, "\x1c\x00\x06\x03" "bye", 7);         /* CONNECTION_CLOSE */
    n += 7;
    n += crypto_frame(fr + n, 0, hello, hl);
    ck_assert_int_eq(feed1(d, seal_padded(V1, 0, fr, n, d), &r),
        TP_SNIFF_FOUND);
    ck_assert_str_eq(r.host, "frames.example");
    /* Truncated ACK: a protocol violation, so no host. */
    ck_assert_int_eq(feed1(d, seal(&q, (const uint8_t *) "\x02\x05\x00\x03"
        "\x00\x00", 6, d), &r), TP_SNIFF_NONE);
    ck_assert_str_eq(r.proto, "quic");
}
END_TEST

START_TEST(test_unknown_frame)
{
    uint8_t                  hello[600], fr[1300], d[1300], e[1300];
    size_t                   hl = build_hello(hello, "x.example", 64), n;
    struct sniff_quic_state *st = sniff_quic_new();
    struct tp_sniff_result   r;

    memcpy(fr, "\x08\x00\x01z", 4);                 /* STREAM */
    n = seal_padded(V1, 0, fr, 4, d);
    ck_assert_int_eq(sniff_quic_feed(st, d, n, &r), TP_SNIFF_NONE);
    ck_assert_str_eq(r.proto, "quic");
    n = seal_padded(V1, 1, fr, crypto_frame(fr, 0, hello, hl), e);
    ck_assert_int_eq(sniff_quic_feed(st, e, n, &r), TP_SNIFF_NONE);
    sniff_quic_free(st);
    ck_assert_int_eq(feed1(e, n, &r), TP_SNIFF_FOUND);
}
END_TEST

/* Not a ClientHello in CRYPTO, or one above the cap. */
START_TEST(test_crypto_content)
{
    uint8_t                  hello[600], fr[1300], d[1300];
    size_t                   hl = build_hello(hello, "x.example", 64);
    struct tp_sniff_result   r;

    hello[0] = 0x02;
    ck_assert_int_eq(feed1(d, seal_padded(V1, 0, fr,
        crypto_frame(fr, 0, hello, hl), d), &r), TP_SNIFF_NONE);
    hello[0] = 0x01;
    hello[1] = 0x00;
    hello[2] = 0x40;
    hello[3] = 0x00;                                /* 16384 + 4 > cap */
    ck_assert_int_eq(feed1(d, seal_padded(V1, 0, fr,
        crypto_frame(fr, 0, hello, 20), d), &r), TP_SNIFF_NONE);
    /* Far-away offsets are ignored, not stored. */
    memcpy(fr, "\x06\xff\xff\xff\xff\xff\xff\xff\xff\x02zz", 12);
    ck_assert_int_eq(feed1(d, seal_padded(V1, 0, fr, 12, d), &r),
        TP_SNIFF_AGAIN);
}
END_TEST

START_TEST(test_draft29)
{
    uint8_t                  hello[600], fr[1300], d[1300];
    size_t                   hl = build_hello(hello, "d29.example", 64);
    struct tp_sniff_result   r;

    ck_assert_int_eq(feed1(d, seal_padded(DRAFT29, 0, fr,
        crypto_frame(fr, 0, hello, hl), d), &r), TP_SNIFF_FOUND);
    ck_assert_str_eq(r.host, "d29.example");
}
END_TEST

START_TEST(test_garbage_datagrams)
{
    uint8_t                  d[1300];
    size_t                   i, j, n;
    struct tp_sniff_result   r;
    uint32_t                 x = 12345;

    for (i = 0; i < 200; i++) {
        for (j = 0; j < sizeof(d); j++) {
            x = x * 1103515245 + 12345;
            d[j] = (uint8_t) (x >> 16);
        }
        if (i & 1) {
            d[0] |= 0xc0;                           /* long header */
            memcpy(d + 1, i & 2 ? "\x00\x00\x00\x01" : "\x6b\x33\x43\xcf", 4);
            d[5] = 8;
        }
        ck_assert_int_eq(feed1(d, sizeof(d), &r), TP_SNIFF_NONE);
        ck_assert_str_eq(r.host, "");
        ck_assert_str_eq(r.proto, "");
    }
    memset(d, 0, sizeof(d));
    ck_assert_int_eq(feed1(d, sizeof(d), &r), TP_SNIFF_NONE);
    /* Version negotiation, unknown version, CID too long, short header. */
    n = unhex(rfc_v1_hex, d, sizeof(d));
    d[4] = 0;
    ck_assert_int_eq(feed1(d, n, &r), TP_SNIFF_NONE);
    d[4] = 2;
    ck_assert_int_eq(feed1(d, n, &r), TP_SNIFF_NONE);
    d[4] = 1;
    d[5] = 21;
    ck_assert_int_eq(feed1(d, n, &r), TP_SNIFF_NONE);
    d[5] = 8;
    d[0] = 0x40;
    ck_assert_int_eq(feed1(d, n, &r), TP_SNIFF_NONE);
    /* One flipped bit in the ciphertext or tag fails authentication. */
    for (i = 0; i < 3; i++) {
        n = unhex(rfc_v1_hex, d, sizeof(d));
        d[i == 0 ? 100 : i == 1 ? 1199 : 5 + 1 + 8 + 1 + 1 + 2 + 4] ^= 0x10;
        ck_assert_int_eq(feed1(d, n, &r), TP_SNIFF_NONE);
    }
}
END_TEST

START_TEST(test_short_datagrams)
{
    uint8_t                  d[1300], *c;
    size_t                   n = unhex(rfc_v1_hex, d, sizeof(d)), i;
    struct tp_sniff_result   r;

    for (i = 0; i < n; i++) {
        c = malloc(i + 1);
        memcpy(c, d, i);
        ck_assert_msg(feed1(c, i, &r) == TP_SNIFF_NONE, "length %zu", i);
        free(c);
    }
}
END_TEST

START_TEST(test_limits)
{
    static const uint8_t     sdcid[4] = { 1, 2, 3, 4 };
    uint8_t                  fr[1300] = { 0x01 }, d[1300], hello[600];
    struct qpkt              q = { V1, 0, sdcid, 4, 0, 1 };
    struct sniff_quic_state *st = sniff_quic_new();
    struct tp_sniff_result   r;
    size_t                   i, n;

    /* Only PINGs: AGAIN until the datagram cap, then NONE. */
    for (i = 1; i <= SNIFF_QUIC_MAX_DGRAMS; i++) {
        n = seal_padded(V1, (uint32_t) i, fr, 1, d);
        ck_assert_int_eq(sniff_quic_feed(st, d, n, &r),
            i < SNIFF_QUIC_MAX_DGRAMS ? TP_SNIFF_AGAIN : TP_SNIFF_NONE);
    }
    ck_assert_str_eq(r.proto, "quic");
    sniff_quic_free(st);
    /* A client's first DCID has at least 8 bytes. */
    n = build_hello(hello, "x.example", 64);
    n = seal(&q, fr, crypto_frame(fr, 0, hello, n), d);
    ck_assert_int_eq(feed1(d, n, &r), TP_SNIFF_NONE);
    sniff_quic_free(NULL);
}
END_TEST

Suite *
suite_sniff_quic(void)
{
    Suite   *s = suite_create("sniff_quic");
    TCase   *tc = tcase_create("core");
    TCase   *tl = tcase_create("limits");

    tcase_add_test(tc, test_varint);
    tcase_add_test(tc, test_initial_keys);
    tcase_add_test(tc, test_rfc_v1_packet);
    tcase_add_test(tc, test_rfc_v2_packet);
    tcase_add_test(tc, test_sealer_matches_rfc);
    tcase_add_test(tc, test_chrome_capture);
    tcase_add_test(tc, test_split_out_of_order);
    tcase_add_test(tc, test_chaos_frames);
    tcase_add_test(tc, test_coalesced);
    tcase_add_test(tc, test_ack_and_close_frames);
    tcase_add_test(tc, test_draft29);
    tcase_add_test(tl, test_unknown_frame);
    tcase_add_test(tl, test_crypto_content);
    tcase_add_test(tl, test_garbage_datagrams);
    tcase_add_test(tl, test_short_datagrams);
    tcase_add_test(tl, test_limits);
    suite_add_tcase(s, tc);
    suite_add_tcase(s, tl);
    return s;
}
