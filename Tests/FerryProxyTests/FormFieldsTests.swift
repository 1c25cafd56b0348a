import Testing

@testable import FerryProxy

@Suite("FormFields")
struct FormFieldsTests {
    @Test("name=value pairs, '+' a space, %XX a byte, repeated names kept in order; a broken escape or bad UTF-8 is no form")
    func parse() throws {
        let form = try #require(FormFields("grant_type=password&password=a%2Bb+c&scope=x+y&scope=z&empty=&bare&caf%C3%A9=1"))
        #expect(form.first("password") == "a+b c")
        #expect(form.all("scope") == ["x y", "z"])
        #expect(form.first("empty") == "" && form.first("bare") == "")
        #expect(form.first("café") == "1")
        #expect(form.first("missing") == nil)
        #expect(FormFields("a=100%") == nil)
        #expect(FormFields("a=%zz") == nil)
        #expect(FormFields("a=%FF") == nil)
        #expect(FormFields("a=raw space")?.first("a") == "raw space")
    }
}
