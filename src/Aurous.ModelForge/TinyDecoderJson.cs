using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using static Aurous.ModelForge.TinyDecoder;

namespace Aurous.ModelForge;

/// <summary>The Hugging Face JSON files that go with the tiny decoder: tokenizer, generation and model configs.</summary>
public static class TinyDecoderJson
{
    private static byte[] Json(Action<Utf8JsonWriter> write)
    {
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            write(w);
        }
        buffer.WriteByte((byte)'\n');
        return buffer.ToArray();
    }

    /// <summary>Hugging Face <c>tokenizer_config.json</c>: special tokens, the variant's chat template, no BOS added.</summary>
    public static byte[] TokenizerConfig(TinyDecoderVariant variant, int contextWindow) => Json(w =>
    {
        w.WriteStartObject();
        w.WriteBoolean("add_bos_token", false);
        w.WriteBoolean("add_prefix_space", false);
        w.WriteStartObject("added_tokens_decoder");
        foreach (var (id, content) in variant.ExtraSpecialTokens.Select(t => (variant.IdOf(t), t)).Prepend((EndOfTextId, Gpt2TokenizerJson.EndOfText)))
        {
            w.WriteStartObject(id.ToString(CultureInfo.InvariantCulture));
            w.WriteString("content", content);
            foreach (var flag in (string[])["lstrip", "normalized", "rstrip", "single_word"])
            {
                w.WriteBoolean(flag, false);
            }
            w.WriteBoolean("special", true);
            w.WriteEndObject();
        }
        w.WriteEndObject();
        w.WriteStartArray("additional_special_tokens");
        foreach (var token in variant.ExtraSpecialTokens)
        {
            w.WriteStringValue(token);
        }
        w.WriteEndArray();
        w.WriteNull("bos_token");
        w.WriteString("chat_template", variant.ChatTemplate);
        w.WriteBoolean("clean_up_tokenization_spaces", false);
        w.WriteString("eos_token", ImEnd);
        w.WriteString("errors", "replace");
        w.WriteNumber("model_max_length", contextWindow);
        w.WriteString("pad_token", Gpt2TokenizerJson.EndOfText);
        w.WriteString("tokenizer_class", "GPT2Tokenizer");
        w.WriteNull("unk_token");
        w.WriteEndObject();
    });

    /// <summary>Hugging Face <c>generation_config.json</c>: the turn ends at <c>&lt;|im_end|&gt;</c> (or <c>&lt;|endoftext|&gt;</c>).</summary>
    public static byte[] GenerationConfig(int contextWindow) => Json(w =>
    {
        w.WriteStartObject();
        w.WriteNumber("bos_token_id", EndOfTextId);
        w.WriteStartArray("eos_token_id");
        w.WriteNumberValue(ImEndId);
        w.WriteNumberValue(EndOfTextId);
        w.WriteEndArray();
        w.WriteNumber("pad_token_id", EndOfTextId);
        w.WriteNumber("max_length", contextWindow);
        w.WriteBoolean("do_sample", true);
        w.WriteNumber("temperature", 1.0);
        w.WriteNumber("top_p", 1.0);
        w.WriteNumber("top_k", 0);
        w.WriteEndObject();
    });

    /// <summary>
    /// Hugging Face <c>config.json</c> for the decoder (what loaders read to size the KV cache); a variant with a vision
    /// tower adds the image token ids and a <c>vision_config</c> (Qwen2-VL's names), which is what a loader reads to lay
    /// out an image's tokens in the prompt.
    /// </summary>
    public static byte[] Config(TinyDecoderVariant variant, int contextWindow) => Json(w =>
    {
        w.WriteStartObject();
        w.WriteStartArray("architectures");
        w.WriteStringValue(variant.Architecture);
        w.WriteEndArray();
        w.WriteString("model_type", variant.ModelType);
        WriteNumbers(w, ("vocab_size", variant.VocabularySize), ("hidden_size", HiddenSize), ("intermediate_size", IntermediateSize),
            ("num_hidden_layers", NumLayers), ("num_attention_heads", NumHeads), ("num_key_value_heads", NumHeads), ("head_dim", HeadDim));
        w.WriteString("hidden_act", "silu");
        w.WriteNumber("layer_norm_eps", LayerNormEpsilon);
        w.WriteNumber("rope_theta", RopeTheta);
        w.WriteNumber("max_position_embeddings", contextWindow);
        w.WriteBoolean("tie_word_embeddings", true);
        WriteNumbers(w, ("bos_token_id", EndOfTextId), ("eos_token_id", ImEndId), ("pad_token_id", EndOfTextId));
        w.WriteString("torch_dtype", "float32");
        w.WriteBoolean("use_cache", true);
        if (variant.HasVision)
        {
            w.WriteNumber("image_token_id", variant.IdOf(TinyVisionTower.ImagePad));
            w.WriteNumber("vision_start_token_id", variant.IdOf(TinyVisionTower.VisionStart));
            w.WriteNumber("vision_end_token_id", variant.IdOf(TinyVisionTower.VisionEnd));
            TinyVisionTower.WriteConfig(w);
        }
        w.WriteEndObject();
    });

    private static void WriteNumbers(Utf8JsonWriter w, params ReadOnlySpan<(string Name, int Value)> numbers)
    {
        foreach (var (name, value) in numbers)
        {
            w.WriteNumber(name, value);
        }
    }
}
