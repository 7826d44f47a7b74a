#include "server_request_key.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include <memory>

#include "kitsync/core/ids.h"
#include "kitsync/sync/server_auth.h"

namespace kitsync::sync {

namespace {
constexpr size_t kMaxRequestIdLength = 64;
}  // namespace

core::Result<RequestKey> RequestKeyOf(const google::protobuf::Message& request) {
  const google::protobuf::FieldDescriptor* field =
      request.GetDescriptor()->FindFieldByName("request_id");
  if (field == nullptr || field->type() != google::protobuf::FieldDescriptor::TYPE_STRING) {
    return core::Status::Internal("a request without a request_id field");
  }
  RequestKey key;
  key.id = request.GetReflection()->GetString(request, field);
  if (key.id.empty()) return key;
  if (key.id.size() > kMaxRequestIdLength) {
    return core::Status::InvalidArgument("request ID is longer than " +
                                         std::to_string(kMaxRequestIdLength) + " characters");
  }
  for (char c : key.id) {
    if (c <= ' ' || c > '~') {
      return core::Status::InvalidArgument(
          "request ID may hold only printable ASCII characters without spaces");
    }
  }
  std::unique_ptr<google::protobuf::Message> rest(request.New());
  rest->CopyFrom(request);
  rest->GetReflection()->ClearField(rest.get(), field);
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    // The same fields always give the same bytes, so a repeat matches its first digest.
    coded.SetSerializationDeterministic(true);
    if (!rest->SerializeToCodedStream(&coded)) {
      return core::Status::InvalidArgument("the request cannot be serialised");
    }
  }
  key.fingerprint = core::ToHex(Sha256(bytes));
  return key;
}

}  // namespace kitsync::sync
