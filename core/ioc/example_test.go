package ioc_test

import (
	"fmt"
	"strings"

	"github.com/vex-ioc/vex/core/ioc"
)

func ExampleParse() {
	for _, s := range []string{"hxxps://Example[.]com/Path", "::ffff:198.51.100.7", "192.168.001.1"} {
		i, err := ioc.Parse(s)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Println(i.Type, i.Value, i.Flags)
	}
	// Output:
	// url https://example.com/Path []
	// ipv4 198.51.100.7 [non_routable]
	// invalid ioc "192.168.001.1": leading zeros are ambiguous
}

func ExampleRefang() {
	fmt.Println(ioc.Refang("hxxp[:]//evil[dot]example(.)com/a[.]php"))
	fmt.Println(ioc.Refang("state[at]rest"))
	// Output:
	// http://evil.example.com/a.php
	// state[at]rest
}

func ExampleDefang() {
	fmt.Println(ioc.Defang("https://www.example.co.uk/login"))
	fmt.Println(ioc.Defang("203.0.113.9"))
	// Output:
	// hxxps://www.example[.]co[.]uk/login
	// 203.0.113[.]9
}

func ExampleIOC_VTPath() {
	i, _ := ioc.Parse("http://example.com/")
	fmt.Println(i.VTPath())
	// Output: /urls/aHR0cDovL2V4YW1wbGUuY29tLw
}

func ExampleExtract() {
	text := "C2: hxxps://evil-example[.]com/gate.php (198.51.100[.]7), hash\r\n" +
		"E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855; see invoice.pdf\n"
	err := ioc.Extract(strings.NewReader(text), ioc.ExtractOptions{}, func(m ioc.Match) error {
		fmt.Println(m.Line, m.IOC.Type, m.IOC.Value)
		return nil
	})
	if err != nil {
		fmt.Println(err)
	}
	// Output:
	// 1 url https://evil-example.com/gate.php
	// 1 ipv4 198.51.100.7
	// 2 sha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
}
