package source

// Patterns is the manifest of grok pattern files hub parsers need, with
// their sha256: CrowdSec ships them with its engine (config/patterns), not
// in the hub, so Phalanx names the set it was tested with (CrowdSec commit
// a88b497, the files in ../shared/hub/patterns) and fetches exactly those.
// A new map on each call.
func Patterns() map[string]string {
	return map[string]string{
		"aws":             "5f6a9863847b035ab4208108649fd59ed061e611dbf8b6b59c4a6bf9a0937816",
		"bacula":          "1aab057a3043cabf9fbf7699e7bd2834c5720229cb55c25ca31fd812c5188195",
		"bro":             "4b5ebbbf5d4c1319e7ee88bccf99309dd97910524f29ccc81f79ad2d8b5fc061",
		"cowrie_honeypot": "5c3dbc829f112ed936f56fed9aeb49d165e2a307f41b7a5858b152925d461cc4",
		"exim":            "7124ba25f3802929f65fc2dc2783422757cd65cc7b3c273f92f56e5863511414",
		"firewalls":       "d7874439f70081b863edfe816156e87431517aaca029a07e5bd1033b79ce9de3",
		"haproxy":         "1c192aedb0c82597d70a0e8f8436eb6c828ac72c0d2be21512ed060481919264",
		"java":            "4ddb6dfbbebfc8626f2614c27a8bf0e05a9db5bd7e57e52e03e932601fa55761",
		"junos":           "3aa063366ab371071eeab28115b2eb0c78635c696375d7a1ef0b076c49de3dff",
		"linux-syslog":    "013450f0c4e8d7c03e76e3193923185cc6aff72e1bbaf9d9c6a6021376054d61",
		"mcollective":     "45759cffb4c3237abf25a613b9c2c9c745fb4d2ac59cd5e2532259e3c191dc50",
		"modsecurity":     "32dd8aea70963a4ae6ea14427786c5ab6e2aecb05b8b3ab57136749295c4cc01",
		"mongodb":         "b23c8ece7b248ae3ba21fdd06ad867e42005b0659df3fe1e34aa13a51f827e65",
		"mysql":           "4194e1160d249a0f7b63f89eb752faeb39ea6197789d5a1a4843ab8cf2ad5954",
		"nagios":          "01fb4620ce7cec794b79490979863c753cc2c50520e4ad1ab711690ad327324a",
		"nginx":           "c4b796e90741c92268447c4b0052ce47213a67ffd00ef24ac1d6c86e9ae99fce",
		"paths":           "49c5fe0e2fd1afed2669b779f63306b35e7aa8a62c7e9018064ce38fe65be435",
		"postgresql":      "9cd3a82e27a3238b664673cee52a3982ffeb269e8ea61f69916127649bde46ff",
		"rails":           "5dc12a3d4016f133ae3d0ec9cf5b3a1402e8227d3fe74c649b4af2c6a3dbfa20",
		"redis":           "cc9198d4341b8f3448a0ffef2c636e2d483e3084b099af4bca1ba5de83e8f8d8",
		"ruby":            "bbe7207805d56a111f26deae35fd271996a0e8fc30cd37dc94e77b0c08917719",
		"smb":             "7b1d2dae91fd69467930d5499eeae198953ffd00d66ccb3eee16f0f0cd0ddbce",
		"ssh":             "2755c9d9df176a5141eeaaf597b5ef3618b509aa2d51e7913c3f15635a4b8d79",
		"tcpdump":         "1aadacca8a65dbb83dc397a16b5cec3e3c4828b715bb0e3f7af19fc3a23386c2",
	}
}
