using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;

namespace Aurous.Dashboard.Tests.Accounts;

/// <summary>
/// A browser without JavaScript over real HTTP: keeps cookies, does not follow redirects, and submits a page's forms
/// with their hidden fields (the antiforgery token, Blazor's form name) as a browser would. It can connect from its own
/// loopback address (127.0.0.N), so that tests of per-address limits do not share one address.
/// </summary>
public sealed partial class FormBrowser : IDisposable
{
    private readonly HttpClient _http;

    public FormBrowser(Uri dashboard, IPAddress? from = null)
    {
        Cookies = new CookieContainer();
        var handler = new SocketsHttpHandler { CookieContainer = Cookies, AllowAutoRedirect = false, UseCookies = true };
        if (from is not null)
        {
            handler.ConnectCallback = async (context, ct) =>
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try
                {
                    socket.Bind(new IPEndPoint(from, 0));
                    await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, context.DnsEndPoint.Port), ct);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            };
        }
        _http = new HttpClient(handler) { BaseAddress = dashboard };
    }

    public CookieContainer Cookies { get; }

    /// <summary>The client underneath, with this browser's cookies, for plain requests.</summary>
    public HttpClient Http => _http;

    public Task<HttpResponseMessage> GetAsync(string path) => _http.GetAsync(path);

    public async Task<(HttpResponseMessage Response, string Html)> GetPageAsync(string path)
    {
        var response = await _http.GetAsync(path);
        return (response, await response.Content.ReadAsStringAsync());
    }

    /// <summary>
    /// Submits the form named <paramref name="formName"/> (Blazor's @formname / FormName), or the form that posts to
    /// <paramref name="formName"/> when it is an address, found on <paramref name="path"/>.
    /// </summary>
    public async Task<HttpResponseMessage> SubmitAsync(string path, string formName, IReadOnlyDictionary<string, string> fields, bool withToken = true) =>
        await (await PrepareSubmitAsync(path, formName, fields, withToken))();

    /// <summary>
    /// Reads the form as <see cref="SubmitAsync"/> does and returns the post, to be sent later: several users can each
    /// load a page, then post at the same moment.
    /// </summary>
    public async Task<Func<Task<HttpResponseMessage>>> PrepareSubmitAsync(string path, string formName, IReadOnlyDictionary<string, string> fields, bool withToken = true)
    {
        var (page, html) = await GetPageAsync(path);
        page.StatusCode.ShouldBe(HttpStatusCode.OK, $"GET {path}");
        var form = FormHtml(html, formName);
        var values = HiddenInputs().Matches(form).ToDictionary(m => WebUtility.HtmlDecode(m.Groups["name"].Value), m => WebUtility.HtmlDecode(m.Groups["value"].Value));
        if (!withToken)
        {
            values.Remove("__RequestVerificationToken");
        }
        foreach (var (name, value) in fields)
        {
            values[name] = value;
        }
        var action = FormAction().Match(form) is { Success: true } a ? WebUtility.HtmlDecode(a.Groups["action"].Value) : path;
        return () => _http.PostAsync(string.IsNullOrEmpty(action) ? path : action, new FormUrlEncodedContent(values));
    }

    /// <summary>
    /// Posts form <paramref name="formName"/> to <paramref name="path"/> although the page shows no such form to this user
    /// (a forged post), with this user's own valid antiforgery token taken from the page.
    /// </summary>
    public async Task<HttpResponseMessage> ForgeAsync(string path, string formName, IReadOnlyDictionary<string, string> fields)
    {
        var (_, html) = await GetPageAsync(path);
        var token = HiddenInputs().Matches(html).First(m => m.Groups["name"].Value == "__RequestVerificationToken");
        var values = new Dictionary<string, string>(fields)
        {
            ["_handler"] = formName,
            ["__RequestVerificationToken"] = WebUtility.HtmlDecode(token.Groups["value"].Value),
        };
        return await _http.PostAsync(path, new FormUrlEncodedContent(values));
    }

    public async Task<string> SubmitForPageAsync(string path, string formName, IReadOnlyDictionary<string, string> fields)
    {
        using var response = await SubmitAsync(path, formName, fields);
        return await response.Content.ReadAsStringAsync();
    }

    /// <summary>Signs in through the sign-in page; returns the response (a redirect when it worked).</summary>
    public Task<HttpResponseMessage> SignInAsync(string email, string password, string? returnUrl = null) =>
        SubmitAsync(returnUrl is null ? "/account/sign-in" : $"/account/sign-in?returnUrl={Uri.EscapeDataString(returnUrl)}", "sign-in",
            new Dictionary<string, string> { ["Input.Email"] = email, ["Input.Password"] = password });

    public async Task SignInOrFailAsync(string email, string password)
    {
        using var response = await SignInAsync(email, password);
        response.StatusCode.ShouldBe(HttpStatusCode.Redirect, await response.Content.ReadAsStringAsync());
    }

    /// <summary>Creates an account and its team through the sign-up page; returns the new team's id.</summary>
    public async Task<string> SignUpAsync(string email, string password, string teamName)
    {
        using var response = await SubmitAsync("/account/sign-up", "sign-up", new Dictionary<string, string>
        {
            ["Input.Email"] = email, ["Input.Password"] = password, ["Input.TeamName"] = teamName,
        });
        response.StatusCode.ShouldBe(HttpStatusCode.Redirect, await response.Content.ReadAsStringAsync());
        var location = PathOf(response);
        location.ShouldStartWith("/teams/");
        return location["/teams/".Length..];
    }

    /// <summary>Where a redirect goes, as a path and query on the dashboard (absolute or relative in the header).</summary>
    public static string PathOf(HttpResponseMessage response)
    {
        var location = response.Headers.Location ?? throw new InvalidOperationException($"{(int)response.StatusCode} without a Location");
        return location.IsAbsoluteUri ? location.PathAndQuery : location.ToString();
    }

    /// <summary>A loopback address of its own for a test (127.0.0.<paramref name="n"/>).</summary>
    public static IPAddress Address(int n) => new([127, 0, 0, (byte)n]);

    public static string NewEmail(string who) => $"{who}-{Guid.NewGuid():N}@example.test";

    public const string Password = "correct horse battery staple";

    private static string FormHtml(string html, string formName)
    {
        foreach (Match form in Forms().Matches(html))
        {
            if (form.Value.Contains($"name=\"_handler\" value=\"{formName}\"", StringComparison.Ordinal)
                || (formName.StartsWith('/') && form.Value.StartsWith($"<form method=\"post\" action=\"{formName}\"", StringComparison.Ordinal)))
            {
                return form.Value;
            }
        }
        throw new InvalidOperationException($"No form '{formName}' on the page:\n{html}");
    }

    public void Dispose() => _http.Dispose();

    [GeneratedRegex("<form\\b.*?</form>", RegexOptions.Singleline)]
    private static partial Regex Forms();

    [GeneratedRegex("<input[^>]*type=\"hidden\"[^>]*name=\"(?<name>[^\"]+)\"[^>]*value=\"(?<value>[^\"]*)\"[^>]*>")]
    private static partial Regex HiddenInputs();

    [GeneratedRegex("^<form[^>]*\\saction=\"(?<action>[^\"]*)\"")]
    private static partial Regex FormAction();
}
